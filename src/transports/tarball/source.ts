/**
 * Reading `tarball:` images as containers/image builds them (`tarball/tarball_src.go`), so the manifest and config
 * bytes, and their digests, are the ones skopeo gives for the same files: every file is one layer, stored as it is
 * (media type OCI tar+gzip when it starts with a gzip header, else OCI tar); its diff ID is the digest of its
 * decompressed content. Each layer's history entry, and the config's `created` (the newest of them), carry the
 * file's modification time in the local time zone (standard input: the time it was read); architecture and OS are
 * the running system's. Files are read once at open to compute the digests; standard input is copied into a
 * temporary file first.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipStream } from '../../compression/gzip.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { goMarshal } from '../../manifest/go-json.js';
import { MediaType } from '../../manifest/media-types.js';
import { currentPlatform } from '../../manifest/platform.js';
import type { OpOptions } from '../../types/context.js';
import type { ImageReference } from '../../types/reference.js';
import { openArchiveInput } from '../../util/stream-files.js';
import { makeTempDir, type TempDir, type TempOptions } from '../../util/temp.js';
import { BLOB_READ_CHUNK, checkAborted, ioError, isNotFoundError } from '../shared/files.js';
import { localGoTime } from '../shared/local-time.js';
import { SynthesizedImageSource } from '../shared/synthesized-source.js';
import type { TarballReference } from './reference.js';

/** The comment of every layer's history entry (containers/image's default). */
const HISTORY_COMMENT = 'imported from tarball';

/** One file of the image, after reading it. */
interface TarballLayer {
  /** The file to serve (standard input's temporary copy for `-`). */
  path: string;
  digest: string;
  size: number;
  diffId: string;
  gzip: boolean;
  /** Modification time (or read time for standard input). */
  time: { ms: bigint; nanos: bigint };
}

/** A Writable that hashes what it is given. */
function hashSink(hash: Hash): Writable {
  return new Writable({
    highWaterMark: BLOB_READ_CHUNK,
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb();
    },
  });
}

/** Whether `head` starts a gzip member Go's gzip reader accepts the header of (magic and the deflate method). */
function isGzipHeader(head: Buffer): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8;
}

/** Reads one file once: its digest and size, and the digest of its decompressed content when it is gzip'd. */
async function readLayer(path: string, shown: string, time: { ms: bigint; nanos: bigint }, opts: OpOptions): Promise<TarballLayer> {
  let head: Buffer;
  let size: number;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new FerryError(ErrorCode.InvalidReference, `tarball ${shown} is not a regular file`);
      size = st.size;
      const buf = Buffer.alloc(3);
      const { bytesRead } = await fh.read(buf, 0, 3, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof FerryError) throw e;
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `tarball ${shown} not found`, { cause: e });
    throw ioError(`opening tarball ${shown}`, e);
  }
  const gzip = isGzipHeader(head);
  const blobHash = createHash('sha256');
  const diffHash = gzip ? createHash('sha256') : blobHash;
  try {
    if (gzip) {
      const tee = async function* (src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
        for await (const chunk of src) {
          blobHash.update(chunk);
          yield chunk;
        }
      };
      await pipeline(createReadStream(path, { highWaterMark: BLOB_READ_CHUNK }), tee, gunzipStream(), hashSink(diffHash), { signal: opts.signal });
    } else {
      await pipeline(createReadStream(path, { highWaterMark: BLOB_READ_CHUNK }), hashSink(blobHash), { signal: opts.signal });
    }
  } catch (e) {
    checkAborted(opts.signal, `reading tarball ${shown}`);
    const code = (e as { code?: unknown }).code;
    if (code === 'Z_BUF_ERROR' || code === 'Z_DATA_ERROR') throw new FerryError(ErrorCode.InvalidManifest, `tarball ${shown}: corrupt or truncated gzip data`, { cause: e });
    throw ioError(`reading tarball ${shown}`, e);
  }
  const digest = `sha256:${blobHash.digest('hex')}`;
  const diffId = gzip ? `sha256:${diffHash.digest('hex')}` : digest;
  return { path, digest, size, diffId, gzip, time };
}

/** Copies standard input (a file, pipe or socket) into a file in `dir`; returns its path. */
async function spoolStdin(dir: string, opts: OpOptions): Promise<string> {
  const path = join(dir, 'stdin');
  const input = await openArchiveInput('/dev/stdin', 'standard input');
  try {
    const from = input.kind === 'stream' ? input.stream : createReadStream('/dev/stdin', { highWaterMark: BLOB_READ_CHUNK });
    await pipeline(from, createWriteStream(path, { flags: 'wx', mode: 0o600 }), { signal: opts.signal });
  } catch (e) {
    checkAborted(opts.signal, 'reading standard input');
    throw ioError('reading standard input for tarball:-', e);
  } finally {
    if (input.kind === 'stream') await input.close();
  }
  return path;
}

/**
 * The image of `layers` as containers/image's tarball transport builds it: the config (created: the newest file's
 * time, the running platform, one history entry per file) and a manifest without its own media type.
 */
function tarballImage(reference: ImageReference, layers: TarballLayer[], temp: TempDir | undefined): SynthesizedImageSource {
  const platform = currentPlatform();
  const times = layers.map((l) => localGoTime(l.time.ms * 1_000_000n + l.time.nanos));
  let newest = 0;
  layers.forEach((l, i) => {
    const n = layers[newest]!;
    if (l.time.ms > n.time.ms || (l.time.ms === n.time.ms && l.time.nanos > n.time.nanos)) newest = i;
  });
  // Key order and omitted fields as Go marshals image-spec's `v1.Image` and `History`.
  const config = Buffer.from(
    goMarshal({
      created: times[newest],
      architecture: platform.architecture,
      os: platform.os,
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l, i) => ({ created: times[i], created_by: `/bin/sh -c #(nop) ADD file:${l.diffId.slice('sha256:'.length)} in /`, comment: HISTORY_COMMENT })),
    }),
  );
  const files = layers.map((l) => ({ path: l.path, mediaType: l.gzip ? MediaType.OciLayerGzip : MediaType.OciLayer, digest: l.digest, size: l.size }));
  // the copy of standard input, if any, goes with the source
  return new SynthesizedImageSource(reference, config, files, { manifestMediaType: false, close: async () => temp?.remove() });
}

/**
 * Reads the files of `ref` (standard input for `-`, once even if named twice) and builds the image.
 * @throws FerryError(E_NOT_FOUND) for a missing file; E_INVALID_REFERENCE for one that is not a regular file;
 *   E_INVALID_MANIFEST for corrupt gzip data; E_IO, E_ABORTED.
 */
export async function openTarballSource(ref: TarballReference, opts: OpOptions & TempOptions = {}): Promise<SynthesizedImageSource> {
  let temp: TempDir | undefined;
  try {
    const layers: TarballLayer[] = [];
    let stdin: { path: string; time: { ms: bigint; nanos: bigint } } | undefined;
    for (const file of ref.files) {
      checkAborted(opts.signal, `reading ${ref.toString()}`);
      if (file === '-') {
        if (!stdin) {
          temp = await makeTempDir(opts, 'ferry-tarball-');
          const path = await spoolStdin(temp.path, opts);
          const now = BigInt(Date.now()) * 1_000_000n;
          stdin = { path, time: { ms: now / 1_000_000n, nanos: now % 1_000_000n } };
        }
        layers.push(await readLayer(stdin.path, 'from standard input', stdin.time, opts));
        continue;
      }
      let st;
      try {
        st = await stat(file, { bigint: true });
      } catch (e) {
        if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `tarball ${file} not found`, { cause: e });
        throw ioError(`reading tarball ${file}`, e);
      }
      layers.push(await readLayer(file, file, { ms: st.mtimeNs / 1_000_000n, nanos: st.mtimeNs % 1_000_000n }, opts));
    }
    return tarballImage(ref, layers, temp);
  } catch (e) {
    await temp?.remove().catch(() => {});
    throw e;
  }
}
