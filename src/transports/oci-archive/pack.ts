/**
 * Packing a directory (an OCI layout) into a tar, for `oci-archive:` destinations that are streams. (Archives are
 * read in place, tar-source.ts, never unpacked.)
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { OpOptions } from '../../types/context.js';
import { TarWriter } from '../../tar/writer.js';
import { BLOB_READ_CHUNK, checkAborted } from '../shared/files.js';

/** Relative paths under `dir`, directories (with a trailing `/`) before their content, sorted. */
async function walk(dir: string, rel = ''): Promise<{ name: string; dir: boolean; size: number }[]> {
  const out: { name: string; dir: boolean; size: number }[] = [];
  const names = (await readdir(join(dir, rel))).sort();
  for (const n of names) {
    const r = rel === '' ? n : `${rel}/${n}`;
    const st = await stat(join(dir, r));
    if (st.isDirectory()) {
      out.push({ name: r, dir: true, size: 0 });
      out.push(...(await walk(dir, r)));
    } else if (st.isFile()) {
      out.push({ name: r, dir: false, size: st.size });
    }
  }
  return out;
}

/**
 * Writes a tar of the content of `dir` (names relative to it; files 0644, directories 0755, owner 0,
 * time 0, so the same layout always gives the same bytes) into `out`, which is not ended.
 * @throws FerryError(E_IO | E_SIZE_MISMATCH | E_ABORTED)
 */
export async function packDirectory(dir: string, out: Writable, opts: OpOptions = {}): Promise<void> {
  const tar = new TarWriter(out);
  for (const e of await walk(dir)) {
    checkAborted(opts.signal, `packing ${dir}`);
    if (e.dir) await tar.addDirectory(e.name);
    else await tar.addFile(e.name, e.size, createReadStream(join(dir, e.name), { highWaterMark: BLOB_READ_CHUNK, signal: opts.signal }), { ...opts, mode: 0o644 });
  }
  await tar.finish();
}
