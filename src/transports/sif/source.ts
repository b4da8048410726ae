/**
 * Reading `sif:` images as containers/image does (`sif/src.go`, `sif/load.go`): the primary system partition (a
 * squashfs file system) is unpacked with squashfs-tools' `unsquashfs` into a temporary directory (under `fakeroot`
 * when not root, so owners are kept), a `/podman/runscript` is added when the definition file has `%environment` or
 * `%runscript` sections, and GNU `tar` packs it (with ACLs and xattrs) into the image's one layer, uncompressed.
 * The config has the partition's architecture, `linux`, `Cmd` (`bash`, or the runscript), the layer's diff ID and a
 * history naming the SIF's UUID, all dated with the SIF header's modification time (UTC), like skopeo's. The layer
 * records the time it was unpacked, so its digest (and the config's) differs from one read to the next, as skopeo's.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError, ErrorCode } from '../../errors.js';
import { goMarshal } from '../../manifest/go-json.js';
import { GoTime } from '../../manifest/go-time.js';
import { MediaType } from '../../manifest/media-types.js';
import type { OpOptions } from '../../types/context.js';
import { makeTempDir, type TempDir, type TempOptions } from '../../util/temp.js';
import { BLOB_READ_CHUNK, checkAborted, ioError, isNotFoundError } from '../shared/files.js';
import { SynthesizedImageSource } from '../shared/synthesized-source.js';
import { commandFromDeffile, DATA_DEFFILE, DATA_PARTITION, FS_SQUASH, PART_PRIMSYS, readSif, type SifInfo } from './format.js';
import type { SifReference } from './reference.js';

/** Largest definition file read. */
const MAX_DEFFILE = 4 << 20;
/** Most of a failing tool's standard error kept for the message. */
const MAX_STDERR = 8192;

/** Runs `sh -c script` with `args` as `$1…` (under fakeroot when not root); fails naming `what` with the tool's last words. */
function runScript(script: string, args: string[], cwd: string, what: string, signal: AbortSignal | undefined): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'sh' : 'fakeroot';
  const argv = asRoot ? ['-c', script, 'sh', ...args] : ['--', 'sh', '-c', script, 'sh', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd, stdio: ['ignore', 'ignore', 'pipe'], signal });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-MAX_STDERR);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') reject(new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: e }));
      else if (e.code === 'ENOENT') reject(new FerryError(ErrorCode.Unsupported, `${what}: ${cmd} is not installed`, { cause: e }));
      else reject(ioError(what, e));
    });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const last = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? '';
        const missing = code === 127 ? ' (is squashfs-tools installed?)' : '';
        reject(new FerryError(ErrorCode.InvalidManifest, `${what} failed${missing}${last ? `: ${last}` : ''}`));
      }
    });
  });
}

/**
 * Adds `/podman/runscript` to the unpacked tree without following anything the (untrusted) tree holds: a `podman`
 * that is not a directory, and any existing `runscript`, are removed first, and the file is created exclusively.
 */
async function addRunscript(root: string, runscript: string): Promise<void> {
  const dir = join(root, 'podman');
  const st = await lstat(dir).catch((e: unknown) => (isNotFoundError(e) ? undefined : Promise.reject(e)));
  if (st && !st.isDirectory()) await rm(dir, { force: true, recursive: true });
  if (!st || !st.isDirectory()) await mkdir(dir, { mode: 0o755 });
  await rm(join(dir, 'runscript'), { force: true, recursive: true });
  await writeFile(join(dir, 'runscript'), runscript, { flag: 'wx', mode: 0o755 });
}

/**
 * The image of a SIF file as containers/image's sif transport builds it: one uncompressed layer, the config dated
 * with the SIF's modification time, and a manifest that names its media type.
 */
function sifImage(reference: SifReference, info: SifInfo, cmd: string[], layer: { path: string; digest: string; size: number }, temp: TempDir): SynthesizedImageSource {
  const created = unixGoTime(info.modifiedAt);
  // Key order and omitted fields as Go marshals image-spec's `v1.Image`, `ImageConfig` and `History`.
  const config = Buffer.from(
    goMarshal({
      created,
      architecture: info.arch,
      os: 'linux',
      config: { Cmd: cmd },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      history: [
        { created, created_by: `/bin/sh -c #(nop) ADD file:${layer.digest.slice('sha256:'.length)} in /`, comment: `imported from SIF, uuid: ${info.id}` },
        { created, created_by: '/bin/sh -c #(nop) CMD ["bash"]', empty_layer: true },
      ],
    }),
  );
  return new SynthesizedImageSource(reference, config, [{ ...layer, mediaType: MediaType.OciLayer }], { manifestMediaType: true, close: () => temp.remove() });
}

/** Seconds since 1970 as Go's `time.Unix(s, 0).UTC()` marshals (out-of-range values as the zero time's year 1). */
function unixGoTime(seconds: bigint): GoTime {
  const ms = Number(seconds) * 1000;
  const d = new Date(ms);
  if (!Number.isFinite(ms) || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) return GoTime.zero();
  return GoTime.parse(`${d.toISOString().slice(0, 19)}Z`, 'SIF modification time');
}

/** Hashes a file. */
async function fileDigest(path: string, signal: AbortSignal | undefined): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  await pipeline(
    createReadStream(path, { highWaterMark: BLOB_READ_CHUNK }),
    new Writable({
      write(c: Buffer, _e, cb) {
        h.update(c);
        size += c.length;
        cb();
      },
    }),
    { signal },
  );
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/**
 * Reads the SIF file, unpacks its primary partition and builds the image.
 * @throws FerryError(E_NOT_FOUND) for a missing file; E_INVALID_MANIFEST for a file that is not a SIF image or a
 *   partition unsquashfs refuses; E_UNSUPPORTED for a partition that is not squashfs or missing tools; E_IO, E_ABORTED.
 */
export async function openSifSource(ref: SifReference, opts: OpOptions & TempOptions = {}): Promise<SynthesizedImageSource> {
  const what = ref.toString();
  checkAborted(opts.signal, `opening ${what}`);
  let fh;
  try {
    fh = await open(ref.path, 'r');
  } catch (e) {
    if (isNotFoundError(e)) throw new FerryError(ErrorCode.NotFound, `${what}: no such file`, { cause: e });
    throw ioError(`opening ${what}`, e);
  }
  let temp: TempDir | undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FerryError(ErrorCode.InvalidReference, `${what} is not a regular file`);
    const info = await readSif(fh, st.size, what);
    const rootfs = info.objects.find((o) => o.datatype === DATA_PARTITION && o.parttype === PART_PRIMSYS);
    if (!rootfs) throw new FerryError(ErrorCode.InvalidManifest, `${what}: no primary system partition`);
    if (rootfs.fstype !== FS_SQUASH) throw new FerryError(ErrorCode.Unsupported, `${what}: the primary partition is not a squashfs file system`);
    const def = info.objects.find((o) => o.datatype === DATA_DEFFILE);
    let deffile: string | undefined;
    if (def) {
      if (def.size > MAX_DEFFILE) throw new FerryError(ErrorCode.TooLarge, `${what}: the definition file is larger than 4 MiB: refusing to read it`);
      const buf = Buffer.alloc(def.size);
      await fh.read(buf, 0, def.size, def.offset);
      deffile = buf.toString('utf8');
    }
    const { cmd, runscript } = commandFromDeffile(deffile);

    temp = await makeTempDir(opts, 'ferry-sif-');
    const squashfs = join(temp.path, 'rootfs.squashfs');
    const tree = join(temp.path, 'squashfs-root');
    const tar = join(temp.path, 'rootfs.tar');
    try {
      await pipeline(
        fh.createReadStream({ start: rootfs.offset, end: rootfs.offset + rootfs.size - 1, highWaterMark: BLOB_READ_CHUNK, autoClose: false }),
        createWriteStream(squashfs, { flags: 'wx', mode: 0o600 }),
        { signal: opts.signal },
      );
    } catch (e) {
      checkAborted(opts.signal, `reading ${what}`);
      throw ioError(`copying the partition of ${what}`, e);
    }
    // unsquashfs, the runscript, then tar; one fakeroot session for both tools when not root.
    await runScript('unsquashfs -no-progress -d "$2" "$1" >/dev/null', [squashfs, tree], temp.path, `unpacking the squashfs partition of ${what}`, opts.signal);
    if (runscript !== undefined) await addRunscript(tree, runscript);
    await runScript('tar --acls --xattrs -C "$1" -cpf "$2" ./', [tree, tar], temp.path, `packing the partition of ${what}`, opts.signal);
    if (process.getuid?.() !== 0) await runScript('chmod -R u+rwX "$1"', [tree], temp.path, 'cleaning up', opts.signal).catch(() => {});
    await rm(tree, { recursive: true, force: true });

    const layer = await fileDigest(tar, opts.signal);
    return sifImage(ref, info, cmd, { path: tar, ...layer }, temp);
  } catch (e) {
    await temp?.remove().catch(() => {});
    throw e;
  } finally {
    await fh.close().catch(() => {});
  }
}
