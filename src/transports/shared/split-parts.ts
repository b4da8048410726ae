/**
 * Archives split for removable media (`sync --dest oci-archive ARCHIVE --split-size SIZE`): the archive's bytes
 * in parts `ARCHIVE.001`, `ARCHIVE.002`, … of SIZE bytes (the last one shorter), and a checksum list
 * `ARCHIVE.sha256` in sha256sum(1)'s format (`<hex>  ARCHIVE.001`), so `sha256sum -c` checks them too. The list is
 * written last: it is what makes the parts an archive. Reading is given the first part; the list names the rest,
 * and each part is checked against it while the parts are joined (a missing, truncated or damaged part is named,
 * before anything else is read).
 */
import { createReadStream } from 'node:fs';
import { lstat, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import type { OpOptions } from '../../types/context.js';
import { AtomicFileSink, writeFileAtomic } from '../../util/atomic.js';
import { readBoundedFile } from '../../util/bounded-read.js';
import { drained } from '../../util/stream-files.js';
import { BLOB_READ_CHUNK, ioError, isNotFoundError } from './files.js';

/** Suffix of the checksum list. */
export const CHECKSUMS_SUFFIX = '.sha256';
/** Most parts an archive may have (three digits). */
const MAX_PARTS = 999;

/** `BASE.001` … */
export function partPath(base: string, n: number): string {
  return `${base}.${String(n).padStart(3, '0')}`;
}

/** The base of a first part's path (`/m/a.tar.001` → `/m/a.tar`), or undefined when it is not one. */
export function splitBaseOf(path: string): string | undefined {
  return /\.001$/.test(path) ? path.slice(0, -4) : undefined;
}

/** Whether `path` is the first part of a split archive: it ends in `.001` and something is at its checksum list. */
export async function isSplitArchive(path: string): Promise<boolean> {
  const base = splitBaseOf(path);
  if (base === undefined) return false;
  try {
    // anything there (a FIFO, a link, a directory) makes it split: joining it then refuses what is not a regular file
    // by name, instead of the first part being read as a whole archive and found truncated
    await lstat(`${base}${CHECKSUMS_SUFFIX}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where an archive named `base` is read from: `base` itself when it is a file with content, else its first part
 * when it was split (`base.001` and its checksum list exist), else `base` (whose reading then names it missing).
 */
export async function readableArchivePath(base: string): Promise<string> {
  try {
    const st = await stat(base);
    if (st.isFile() && st.size > 0) return base;
  } catch (e) {
    if (!isNotFoundError(e)) throw ioError(`reading ${base}`, e);
  }
  return (await isSplitArchive(partPath(base, 1))) ? partPath(base, 1) : base;
}

/**
 * Parses a SIZE: a number of bytes, or with `K`, `M`, `G`, `T` (powers of 1024; an optional `i`/`iB`/`B`).
 * @throws FerryError(E_USAGE) for anything else or a size under 1 MiB.
 */
export function parseSplitSize(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new FerryError(ErrorCode.Usage, `invalid size "${text}": a number of bytes, or with K, M, G or T (e.g. 700M, 4G)`);
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const n = Math.floor(Number(m[1]) * scale);
  if (!Number.isSafeInteger(n) || n < 2 ** 20) throw new FerryError(ErrorCode.Usage, `invalid size "${text}": parts must be at least 1M`);
  return n;
}

/**
 * Splits the file `whole` into the parts of `base` and writes the checksum list (see the module comment), then
 * removes parts of an earlier, longer split and `whole` itself. Each part is written to a temporary file beside
 * it and renamed into place.
 * @throws FerryError(E_IO | E_NO_SPACE | E_ABORTED); E_UNSUPPORTED for more than 999 parts.
 */
export async function splitFile(whole: string, base: string, partSize: number, opts: OpOptions = {}): Promise<number> {
  const total = (await stat(whole)).size;
  const count = Math.max(1, Math.ceil(total / partSize));
  if (count > MAX_PARTS) throw new FerryError(ErrorCode.Unsupported, `${base}: ${count} parts of ${partSize} bytes are too many (at most ${MAX_PARTS}): choose a larger --split-size`);
  const lines: string[] = [];
  for (let n = 1; n <= count; n++) {
    const start = (n - 1) * partSize;
    const end = Math.min(total, start + partSize);
    const sink = await AtomicFileSink.open(partPath(base, n), { signal: opts.signal });
    const hash = createHash('sha256');
    try {
      if (end > start) {
        for await (const chunk of createReadStream(whole, { start, end: end - 1, highWaterMark: BLOB_READ_CHUNK, signal: opts.signal })) {
          hash.update(chunk as Buffer);
          if (!sink.stream.write(chunk)) await drained(sink.stream as Writable);
        }
      }
      await sink.commit();
    } catch (e) {
      await sink.abort();
      throw ioError(`writing ${partPath(base, n)}`, e);
    }
    lines.push(`${hash.digest('hex')}  ${basename(partPath(base, n))}\n`);
  }
  await writeFileAtomic(`${base}${CHECKSUMS_SUFFIX}`, lines.join(''), { signal: opts.signal });
  for (let n = count + 1; n <= MAX_PARTS; n++) {
    try {
      await unlink(partPath(base, n));
    } catch (e) {
      if (isNotFoundError(e)) break;
      throw ioError(`removing ${partPath(base, n)}`, e);
    }
  }
  await unlink(whole).catch(() => {});
  return count;
}

/**
 * Joins the parts of the split archive whose first part is `first` into `out` (not ended), checking each against
 * the checksum list first read.
 * @throws FerryError(E_NOT_FOUND) for a missing part; E_DIGEST_MISMATCH for a truncated or damaged one;
 *         E_INVALID_MANIFEST for a malformed checksum list; E_IO, E_ABORTED.
 */
export async function joinParts(first: string, out: Writable, opts: OpOptions = {}): Promise<void> {
  const base = splitBaseOf(first);
  if (base === undefined) throw new FerryError(ErrorCode.InvalidReference, `${first} is not the first part of a split archive (.001)`);
  const list = `${base}${CHECKSUMS_SUFFIX}`;
  let text: string;
  try {
    text = (await readBoundedFile(list, { what: `checksum list ${list}`, signal: opts.signal, regularFile: true })).toString('utf8');
  } catch (e) {
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `split archive ${base}: its checksum list ${list} is missing`, { cause: e });
    throw ioError(`reading ${list}`, e);
  }
  const parts = text.split('\n').filter((l) => l.trim() !== '');
  if (parts.length === 0 || parts.length > MAX_PARTS) throw new FerryError(ErrorCode.InvalidManifest, `${list}: no parts listed`);
  for (const [i, line] of parts.entries()) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    const expected = partPath(base, i + 1);
    // Only the parts of this archive, in order, beside the list: a name elsewhere is never opened.
    if (!m || m[2] !== basename(expected)) throw new FerryError(ErrorCode.InvalidManifest, `${list}: line ${i + 1} is not "<sha256>  ${basename(expected)}"`);
    const part = join(dirname(list), m[2]);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of createReadStream(part, { highWaterMark: BLOB_READ_CHUNK, signal: opts.signal })) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        if (!out.write(chunk)) await drained(out);
      }
    } catch (e) {
      if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `split archive ${base}: part ${part} is missing`, { cause: e });
      throw ioError(`reading ${part}`, e);
    }
    if (hash.digest('hex') !== m[1]) {
      throw new FerryError(ErrorCode.DigestMismatch, `split archive ${base}: part ${part} (${size} bytes) does not match its checksum in ${list}: truncated or damaged`);
    }
  }
}
