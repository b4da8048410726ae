/**
 * openpgp.js, loaded on first use through `require` (its CommonJS build). Only the signing commands need it, and
 * it is large (about half a megabyte): loaded at run time, it stays out of ferry's bundle (lib/bundle/ferry.mjs,
 * which every command parses), and Node takes it from node_modules when a signature is made or checked — as
 * compression/zstd.ts does for zstd-napi.
 */
import { createRequire } from 'node:module';
import type * as OpenPgp from 'openpgp';

let loaded: typeof OpenPgp | undefined;

/** The openpgp module (loaded once). Async so that callers need not change if it becomes an `import()`. */
export async function openpgp(): Promise<typeof OpenPgp> {
  loaded ??= createRequire(import.meta.url)('openpgp') as typeof OpenPgp;
  return loaded;
}
