'use strict';
// One native module, built by node-gyp at install time against Debian's libnftnl-dev and libmnl-dev.
module.exports = require('./build/Release/knockgate_nftset.node');
