'use strict';
// One native module, built by node-gyp at install time; it needs no library beyond libc.
module.exports = require('./build/Release/knockgate_unix_socket.node');
