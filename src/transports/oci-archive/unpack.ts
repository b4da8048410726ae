/**
 * Safe unpacking of an (optionally gzip-compressed) tar into a directory, and packing a directory
 * into a tar, for `oci-archive:`.
 *
 * Unpacking writes only directories and regular files, at names checked by the tar index (absolute names,
 * `..` escapes and links leaving the archive are E_HOSTILE_ARCHIVE before anything is written). Links
 * inside the archive are written as copies of their targets, so no write can ever follow a link.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { OpOptions } from '../../types/context.js';
import { uncompressedTar } from '../docker-archive/archive.js';
import type { TempOptions } from '../../util/temp.js';
import { indexTar } from '../docker-archive/tar-index.js';
import { TarWriter } from '../docker-archive/tar-write.js';
import { BLOB_READ_CHUNK, checkAborted, ioError } from '../shared/files.js';

/**
 * Unpacks the tar (or gzip'd tar) at `path` into the existing, empty directory `dest`.
 * @param what names the archive in error messages.
 * @throws FerryError(E_HOSTILE_ARCHIVE | E_INVALID_MANIFEST | E_NOT_FOUND | E_IO | E_ABORTED)
 */
export async function unpackTar(path: string, dest: string, what: string, opts: OpOptions & TempOptions = {}): Promise<void> {
  const { tarPath, temp } = await uncompressedTar(path, what, opts);
  try {
    const index = await indexTar(tarPath, what, opts);
    const made = new Set<string>(['']);
    const mkdirs = async (rel: string) => {
      if (made.has(rel)) return;
      await mkdir(join(dest, rel), { recursive: true });
      made.add(rel);
    };
    for (const e of index.list) {
      checkAborted(opts.signal, `unpacking ${what}`);
      if (e.kind === 'directory') {
        await mkdirs(e.name);
        continue;
      }
      const file = e.kind === 'file' ? e : e.kind === 'symlink' || e.kind === 'hardlink' ? index.resolve(e.name) : undefined;
      if (!file) continue; // devices, FIFOs, dangling or directory links: not part of an OCI layout
      await mkdirs(dirname(e.name) === '.' ? '' : dirname(e.name));
      try {
        await pipeline(index.openEntry(file, { signal: opts.signal }), createWriteStream(join(dest, e.name), { highWaterMark: BLOB_READ_CHUNK }));
      } catch (err) {
        throw ioError(`unpacking ${e.name} from ${what}`, err);
      }
    }
  } finally {
    await temp?.remove().catch(() => {});
  }
}

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
