/** The `User-Agent` ferry sends: `ferry/<version>`, the version read once from the package's package.json. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** Finds the nearest package.json named `ferry` above this module and returns its version (`0.0.0` if none). */
function ferryVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferry' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: go up
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return '0.0.0';
}

/** `ferry/<version>`. */
export function userAgent(): string {
  cached ??= `ferry/${ferryVersion()}`;
  return cached;
}
