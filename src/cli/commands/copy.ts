import type { CommandSpec } from '../command.js';
import { registryFlags, retryFlags, contextFromArgs, sharedAuthFileFlag } from '../options/registry.js';
import { daemonHostFlags, withDaemonHost } from '../options/daemon.js';
import { signingFlags, signingFromArgs } from '../options/signing.js';
import { storageFlags, applyStorageArgsFor } from '../options/storage.js';
import { FerryError, ErrorCode } from '../../errors.js';
import type { CopyOptions, MultiArch } from '../../copy/options.js';
import type { Platform } from '../../manifest/types.js';
import type { ProgressMode } from '../output/progress.js';

const usage = (m: string) => new FerryError(ErrorCode.Usage, m);

/** Parses `--platform os/arch[/variant],…`. */
export function parsePlatforms(value: string | string[]): Platform[] {
  const items = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw usage('--platform needs at least one OS/ARCH[/VARIANT]');
  return items.map((s) => {
    const parts = s.split('/');
    if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) throw usage(`invalid --platform "${s}": expected OS/ARCH[/VARIANT]`);
    const p: Platform = { os: parts[0]!, architecture: parts[1]! };
    if (parts[2] !== undefined) p.variant = parts[2];
    return p;
  });
}

/** `--src-shared-blob-dir` / `--dest-shared-blob-dir` (skopeo's): blobs of `oci:` layouts in a directory shared between them. */
export const sharedBlobDirFlags = {
  'src-shared-blob-dir': { type: 'string', describe: 'directory holding the blobs of oci: source layouts, shared between them', requiresArg: true },
  'dest-shared-blob-dir': { type: 'string', describe: 'directory holding the blobs of oci: destination layouts, shared between them', requiresArg: true },
} as const;

/** `--include-referrers` (copy and sync). */
export const includeReferrersFlag = {
  'include-referrers': { type: 'boolean', describe: 'also copy what refers to each image (OCI referrers, cosign .sig/.att/.sbom tags), unchanged' },
} as const;

/** Builds the engine options from the parsed flags (without policy, signal and callbacks). */
export function copyOptionsFromArgs(args: Record<string, unknown>, env: NodeJS.ProcessEnv): Omit<CopyOptions, 'policy'> {
  const opts: Omit<CopyOptions, 'policy'> = {
    srcCtx: withDaemonHost(contextFromArgs(args, 'src-', env), args, 'src-', env),
    destCtx: withDaemonHost(contextFromArgs(args, 'dest-', env), args, 'dest-', env),
  };
  const all = Boolean(args['all']);
  const multiArch = args['multi-arch'] as MultiArch | undefined;
  if (all && multiArch !== undefined) throw usage('--all and --multi-arch cannot be used together');
  opts.multiArch = all ? 'all' : (multiArch ?? 'system');
  const platform = args['platform'] as string | string[] | undefined;
  if (platform !== undefined) {
    if (opts.multiArch === 'index-only') throw usage('--platform cannot be combined with --multi-arch index-only');
    opts.platforms = parsePlatforms(platform);
  }
  const format = args['format'] as string | undefined;
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (f === 'v2s1') throw new FerryError(ErrorCode.Unsupported, 'writing Docker schema1 manifests (--format v2s1) is not supported');
    if (f !== 'oci' && f !== 'v2s2') throw usage(`unknown --format "${format}": expected oci or v2s2`);
    opts.format = f;
  }
  if (args['preserve-digests']) opts.preserveDigests = true;
  if (args['remove-signatures']) opts.removeSignatures = true;
  if (args['include-referrers']) opts.includeReferrers = true;
  const compress = Boolean(args['dest-compress']);
  const decompress = Boolean(args['dest-decompress']);
  if (compress && decompress) throw usage('--dest-compress and --dest-decompress cannot be used together');
  const compressFormat = args['dest-compress-format'] as string | undefined;
  if (compressFormat !== undefined && compressFormat !== 'gzip' && compressFormat !== 'zstd') {
    throw usage(`unknown --dest-compress-format "${compressFormat}": expected gzip or zstd`);
  }
  const level = args['dest-compress-level'] as number | undefined;
  if (level !== undefined && (!Number.isInteger(level) || level < 1)) throw usage('--dest-compress-level must be a positive integer');
  if (compress || decompress || compressFormat !== undefined || level !== undefined) {
    opts.compress = { mode: compress ? 'compress' : decompress ? 'decompress' : 'preserve' };
    if (compressFormat !== undefined) opts.compress.format = compressFormat as 'gzip' | 'zstd';
    if (level !== undefined) opts.compress.level = level;
  }
  if (args['dest-oci-accept-uncompressed-layers']) opts.ociAcceptUncompressedLayers = true;
  if (args['src-shared-blob-dir'] !== undefined) opts.srcCtx!.ociSharedBlobDir = String(args['src-shared-blob-dir']);
  if (args['dest-shared-blob-dir'] !== undefined) opts.destCtx!.ociSharedBlobDir = String(args['dest-shared-blob-dir']);
  const parallel = args['image-parallel-copies'] as number | undefined;
  if (parallel !== undefined) {
    if (!Number.isInteger(parallel) || parallel < 1) throw usage('--image-parallel-copies must be a positive integer');
    opts.parallel = parallel;
  }
  const tags = args['additional-tag'] as string[] | string | undefined;
  if (tags !== undefined) opts.additionalTags = Array.isArray(tags) ? tags : [tags];
  return opts;
}

const spec: CommandSpec = {
  command: 'copy SOURCE-IMAGE DESTINATION-IMAGE',
  describe: 'Copy an IMAGE-NAME from one location to another',
  builder: (y) =>
    y
      .positional('SOURCE-IMAGE', { type: 'string', describe: 'TRANSPORT:DETAILS to copy from' })
      .positional('DESTINATION-IMAGE', { type: 'string', describe: 'TRANSPORT:DETAILS to copy to' })
      .options({
        ...sharedAuthFileFlag,
        ...registryFlags('src-'),
        ...registryFlags('dest-'),
        ...daemonHostFlags('src-'),
        ...daemonHostFlags('dest-'),
        ...retryFlags,
        ...storageFlags,
        ...signingFlags,
        all: { alias: 'a', type: 'boolean', describe: 'copy all images of a multi-platform image (same as --multi-arch all)' },
        'multi-arch': { type: 'string', choices: ['system', 'all', 'index-only'], describe: 'how to copy multi-platform images', requiresArg: true, defaultDescription: 'system' },
        platform: { type: 'string', describe: 'copy only these platforms (OS/ARCH[/VARIANT],…) and write an index of just those', requiresArg: true },
        format: { alias: 'f', type: 'string', describe: 'manifest type to write (oci, v2s2)', requiresArg: true },
        'preserve-digests': { type: 'boolean', describe: 'fail rather than change any digest' },
        'remove-signatures': { type: 'boolean', describe: 'do not copy signatures' },
        ...includeReferrersFlag,
        'dest-compress': { type: 'boolean', describe: 'compress layers when writing to the destination' },
        'dest-decompress': { type: 'boolean', describe: 'decompress layers when writing to the destination' },
        'dest-compress-format': { type: 'string', describe: 'compression format for layers (gzip, zstd)', requiresArg: true },
        'dest-compress-level': { type: 'number', describe: 'compression level for layers', requiresArg: true },
        'dest-oci-accept-uncompressed-layers': { type: 'boolean', describe: 'keep uncompressed layers when writing to an oci: destination' },
        ...sharedBlobDirFlags,
        since: {
          type: 'string',
          describe: 'earlier archives: leave out of an oci-archive: destination every blob they (or their ARCHIVE.index.json) carried; read from them the blobs an oci-archive: source leaves out',
          requiresArg: true,
        },
        'split-size': { type: 'string', describe: 'write an oci-archive: or docker-archive: destination as parts FILE.001, … of SIZE bytes (e.g. 700M, 4G) and a checksum list FILE.sha256', requiresArg: true },
        'image-parallel-copies': { type: 'number', describe: 'blobs copied at once', requiresArg: true, defaultDescription: '6; 4 into containers-storage: and docker-archive:' },
        digestfile: { type: 'string', describe: 'write the digest of the copied manifest to PATH', requiresArg: true },
        quiet: { alias: 'q', type: 'boolean', describe: 'print no progress' },
        progress: { type: 'string', choices: ['tty', 'plain', 'json'], describe: 'progress output on stderr', requiresArg: true, defaultDescription: 'tty on a terminal, else plain' },
        'additional-tag': { type: 'string', describe: 'extra tag for docker-archive: destinations (repeat for more)', requiresArg: true },
      })
      .example('$0 copy docker://registry.example.com/app:1.0 oci:/srv/layout:1.0', 'copy an image from a registry into an OCI layout')
      .example('$0 copy --all --progress json oci:/srv/layout:1.0 dir:/tmp/app', 'copy every platform, progress as JSON lines'),
  async handler(args, cli) {
    const opts = copyOptionsFromArgs(args, cli.io.env);
    // The modules of a copy load together: one after the other, each would wait for the reads and compiling of the
    // one before. They are used in the order below, so errors come in the same order as ever.
    const [{ policyFromArgs }, { parseImageName }, { createProgressRenderer }, { copyImage }, { onRegistryWait }] = await Promise.all([
      import('../options/policy.js'),
      import('../../transports/registry.js'),
      import('../output/progress.js'),
      import('../../copy/copy.js'),
      import('../../registry/rate-limit.js'),
    ]);
    const policy = await policyFromArgs(args, cli.io.env, cli.signal);
    Object.assign(opts, await signingFromArgs(args, cli));
    await applyStorageArgsFor([String(args['SOURCE-IMAGE']), String(args['DESTINATION-IMAGE'])], args, cli.io.env);
    const src = parseImageName(String(args['SOURCE-IMAGE']));
    const dest = parseImageName(String(args['DESTINATION-IMAGE']));
    // --since: the earlier archives an archive written here builds on, else those an archive read here builds on.
    // Repeated, not greedy (an array option would take the positional arguments that follow it).
    const since = ([] as unknown[]).concat(args['since'] ?? []).map(String);
    if (since.length > 0) {
      if (dest.transport.archiveOptions?.since) opts.destCtx = { ...opts.destCtx, archiveSince: since };
      else if (src.transport.archiveOptions?.since) opts.srcCtx = { ...opts.srcCtx, archiveSince: since };
      else throw usage('--since applies only to an oci-archive: source or destination');
    }
    if (args['split-size'] !== undefined) {
      if (!dest.transport.archiveOptions?.split) throw usage('--split-size applies only to oci-archive: and docker-archive: destinations');
      const { parseSplitSize } = await import('../../transports/shared/split-parts.js');
      opts.destCtx = { ...opts.destCtx, archiveSplitSize: parseSplitSize(String(args['split-size'])) };
    }
    const mode: ProgressMode = args['quiet'] ? 'quiet' : ((args['progress'] as ProgressMode | undefined) ?? (cli.io.stderr.isTTY ? 'tty' : 'plain'));
    const renderer = await createProgressRenderer(mode, cli.io.stderr);
    const stopWaits = onRegistryWait((e) => renderer.onWait(e));
    let digest: string;
    try {
      digest = (
        await copyImage(src, dest, {
          ...opts,
          policy,
          signal: cli.signal,
          onProgress: (e) => renderer.onProgress(e),
          onImage: (e) => renderer.onImage(e),
          onPhase: (p) => renderer.onPhase(p),
        })
      ).manifestDigest;
    } finally {
      stopWaits();
      await renderer.finish();
    }
    const digestFile = args['digestfile'] as string | undefined;
    if (digestFile !== undefined) {
      const { writeFile } = await import('node:fs/promises');
      try {
        await writeFile(digestFile, digest);
      } catch (e) {
        throw new FerryError(ErrorCode.Io, `writing digest file ${digestFile}: ${(e as Error).message}`, { cause: e });
      }
    }
  },
};
export default spec;
