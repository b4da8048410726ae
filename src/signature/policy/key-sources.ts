/** Reading the key material a policy requirement names (files read when the requirement is evaluated, as containers/image). */
import { readNamedFile } from '../../util/bounded-read.js';
import type { KeySource } from '../../config/policy-types.js';

/**
 * The bytes of every key blob `src` names: one per file or inline value.
 * @throws FerryError(E_NOT_FOUND / E_IO) if a file cannot be read or is over 4 MiB.
 */
export async function readKeySource(src: KeySource, what: string, signal?: AbortSignal): Promise<Buffer[]> {
  if ('path' in src) return [await readNamedFile(src.path, what, { signal, regularFile: true })];
  if ('paths' in src) {
    const out: Buffer[] = [];
    for (const p of src.paths) out.push(await readNamedFile(p, what, { signal, regularFile: true }));
    return out;
  }
  if ('data' in src) return [src.data];
  return src.datas;
}

/** How a key source is shown in messages: `keyPath "/etc/pki/key.gpg"`, `keyPaths ["/a", "/b"]`, `keyData`, `keyDatas`. */
export function describeKeySource(src: KeySource): string {
  if ('path' in src) return `keyPath ${JSON.stringify(src.path)}`;
  if ('paths' in src) return `keyPaths ${JSON.stringify(src.paths)}`;
  return 'data' in src ? 'keyData' : 'keyDatas';
}
