/**
 * skopeo's `dir:` layout (containers/image `directory`):
 * - `manifest.json` — the image's manifest (or index); `<hex>.manifest.json` for an instance of an index;
 * - one file per blob, named by the digest's hex for sha256 and `<algorithm>-<hex>` otherwise;
 * - `signature-1`, `signature-2`, … (`<hex>.signature-N` for an instance);
 * - `version` — `Directory Transport Version: 1.1\n`.
 */
import { join } from 'node:path';
import { parseDigest } from '../../util/digest.js';

/** Content of the `version` file ferry writes. */
export const DIR_VERSION_CONTENT = 'Directory Transport Version: 1.1\n';
/** Name of the version file. */
export const VERSION_FILE = 'version';
/** Name of the main manifest file. */
export const MANIFEST_FILE = 'manifest.json';

/**
 * File-name stem of a digest: its hex for sha256, `<algorithm>-<hex>` for other algorithms.
 * @throws FerryError(E_INVALID_REFERENCE) for an invalid digest (so no name can escape the directory).
 */
export function digestStem(digest: string): string {
  const d = parseDigest(digest);
  return d.algorithm === 'sha256' ? d.hex : `${d.algorithm}-${d.hex}`;
}

/** `manifest.json`, or `<stem>.manifest.json` for an instance of an index. */
export function manifestPath(dir: string, instanceDigest?: string): string {
  return join(dir, instanceDigest === undefined ? MANIFEST_FILE : `${digestStem(instanceDigest)}.manifest.json`);
}

/** Path of a blob (config or layer). */
export function blobPath(dir: string, digest: string): string {
  return join(dir, digestStem(digest));
}

/**
 * Path of signature number `index` (zero-based): `signature-<index+1>`, or `<stem>.signature-<index+1>` for an
 * instance. (containers/image uses the bare hex for instance signatures whatever the algorithm; the two agree for sha256.)
 */
export function signaturePath(dir: string, index: number, instanceDigest?: string): string {
  const name = `signature-${index + 1}`;
  return join(dir, instanceDigest === undefined ? name : `${digestStem(instanceDigest)}.${name}`);
}

/** Path of the `version` file. */
export function versionPath(dir: string): string {
  return join(dir, VERSION_FILE);
}

/**
 * The version in a `version` file's content (`Directory Transport Version: 1.1` → `1.1`), or undefined if
 * the content does not have that form.
 */
export function parseDirVersion(content: string): string | undefined {
  return /^Directory Transport Version: (\d+\.\d+)\n?$/.exec(content)?.[1];
}
