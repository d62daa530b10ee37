'use strict';
// One native module, built by node-gyp at install time against Debian's libpcap-dev: the capture,
// and the SPA server's HMAC screen over many access.conf keys (with Node's own OpenSSL), which
// the capture also applies to SPA datagrams before handing them up.
module.exports = require('./build/Release/knockgate_capture.node');
// Beside it, without libpcap: the guard's sock_diag dump, nftables generation and raw frame sender.
module.exports.netdiag = require('./build/Release/knockgate_netdiag.node');
