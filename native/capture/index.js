'use strict';
// One native module, built by node-gyp at install time against Debian's libpcap-dev.
module.exports = require('./build/Release/knockgate_capture.node');
// The guard's sock_diag dump and raw frame sender: a module of its own, without libpcap.
module.exports.netdiag = require('./build/Release/knockgate_netdiag.node');
