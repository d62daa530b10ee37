'use strict';
// One native module, built by node-gyp at install time against Debian's libpcap-dev.
module.exports = require('./build/Release/knockgate_capture.node');
