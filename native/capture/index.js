'use strict';
// One native module, built by node-gyp at install time against Debian's libpcap-dev.
module.exports = require('./build/Release/knockgate_capture.node');
// Beside it, without libpcap: the guard's sock_diag dump, nftables generation and raw frame sender.
module.exports.netdiag = require('./build/Release/knockgate_netdiag.node');
// Beside it, with Node's own OpenSSL: the SPA server's HMAC screen over many access.conf keys.
module.exports.HmacScreen = require('./build/Release/knockgate_spahmac.node').HmacScreen;
