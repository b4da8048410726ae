/**
 * Stands in for `node:http2` in the esbuild bundle (Makefile: `--alias:node:http2=…`). ferry speaks HTTP/1.1 only
 * (undici's Agent without `allowH2`), but undici's client-h2.js requires `node:http2` when it loads, which compiles
 * Node's HTTP/2 modules on every start-up (measurable: docs/performance.md). It already copes with a Node built without HTTP/2: when the
 * require throws it uses `{ constants: {} }`. So this module only throws. Nothing else in ferry may import node:http2.
 */
export {};
throw new Error('node:http2 is not part of the ferry bundle (see src/registry/no-http2.ts)');
