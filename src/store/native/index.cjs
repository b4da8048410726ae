'use strict';
// Loads the compiled addon (built by `node-gyp rebuild` during `npm ci`).
module.exports = require('./build/Release/ferry_store_native.node');
