import type { CommandSpec } from '../command.js';
import { registryFlags, retryFlags, contextFromArgs, sharedAuthFileFlag } from '../options/registry.js';
import { signingFlags, signingFromArgs } from '../options/signing.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { redactCredentials } from '../../util/redact.js';
import { write } from '../io.js';
import type { ProgressMode } from '../output/progress.js';
import type { LeftOutSource, SyncSourceKind } from '../../sync/sources.js';
import type { SyncDestKind } from '../../sync/naming.js';
import type { SyncFailure, SyncImage, SyncReporter } from '../../sync/sync.js';
import type { SyncView } from '../output/sync-view.js';
import { includeReferrersFlag, sharedBlobDirFlags } from './copy.js';

const usage = (m: string) => new FerryError(ErrorCode.Usage, m);

function oneLine(e: unknown): string {
  return redactCredentials((e instanceof Error ? e.message || e.name : String(e)).replace(/\s*\n\s*/g, '; '));
}

/**
 * `Sync failed for 1 image or source (2 images synced): docker://…:v2` — the one-line summary of a `--keep-going`
 * sync (each failure's error was printed when it happened).
 */
export function failureSummary(failures: SyncFailure[], synced: number): string {
  const list = failures.map((f) => f.what).join(', ');
  const n = failures.length;
  return `Sync failed for ${n} image${n === 1 ? '' : 's'} or source${n === 1 ? '' : 's'} (${synced} image${synced === 1 ? '' : 's'} synced): ${list}`;
}

/**
 * `Copying image ref 1/3 from="docker://…" to="dir:…"`: skopeo's log message with its `from`/`to` fields, quoted as
 * logrus quotes them (Go's %q; JSON's quoting is the same for the printable text names are made of).
 */
export function imageRefLine(verb: string, image: Pick<SyncImage, 'index' | 'count' | 'from' | 'to'>): string {
  return `${verb} image ref ${image.index}/${image.count} from=${JSON.stringify(image.from)} to=${JSON.stringify(image.to)}`;
}

const spec: CommandSpec = {
  command: 'sync SOURCE DESTINATION',
  describe: 'Synchronize one or more images from one location to another',
  builder: (y) =>
    y
      .positional('SOURCE', { type: 'string', describe: 'repository, image, or registry HOST or HOST/NAMESPACE/ (--src docker), directory (--src dir), YAML file (--src yaml), OCI layout (--src oci) or archive (--src oci-archive)' })
      .positional('DESTINATION', { type: 'string', describe: 'registry/namespace prefix (--dest docker), directory (--dest dir), OCI layout (--dest oci) or archive (--dest oci-archive)' })
      .options({
        src: { alias: 's', type: 'string', choices: ['docker', 'dir', 'yaml', 'oci', 'oci-archive'], describe: 'SOURCE transport type', requiresArg: true, demandOption: true },
        dest: { alias: 'd', type: 'string', choices: ['docker', 'dir', 'oci', 'oci-archive'], describe: 'DESTINATION transport type', requiresArg: true, demandOption: true },
        ...sharedAuthFileFlag,
        ...registryFlags('src-'),
        ...registryFlags('dest-'),
        ...retryFlags,
        ...signingFlags,
        all: { alias: 'a', type: 'boolean', describe: 'copy every image of multi-platform images' },
        platform: { type: 'string', describe: 'copy only these platforms (OS/ARCH[/VARIANT],…) of multi-platform images', requiresArg: true },
        format: { alias: 'f', type: 'string', describe: 'manifest type to write (oci, v2s2)', requiresArg: true },
        'preserve-digests': { type: 'boolean', describe: 'fail rather than change any digest' },
        'remove-signatures': { type: 'boolean', describe: 'do not copy signatures' },
        ...includeReferrersFlag,
        scoped: { type: 'boolean', describe: 'prefix images at DESTINATION with the full source image path' },
        'append-suffix': { type: 'string', describe: 'string to append to destination tags', requiresArg: true },
        'dry-run': { type: 'boolean', describe: 'print the plan (what would be copied, skipped, pruned) on stdout, change nothing' },
        // --- sync plan and prune (src/sync/plan.ts, src/sync/prune.ts) ---
        output: { type: 'string', choices: ['text', 'json'], describe: 'how --dry-run prints its plan on stdout', requiresArg: true, default: 'text' },
        prune: { type: 'boolean', describe: 'delete destination tags the source no longer has (--dest docker)' },
        'prune-max': { type: 'string', describe: 'most tags --prune deletes per repository: N or P% (default 10%, at least 1)', requiresArg: true },
        // --- end sync plan and prune ---
        'split-size': { type: 'string', describe: 'write the archive as parts ARCHIVE.001, … of SIZE bytes (e.g. 700M, 4G) and a checksum list ARCHIVE.sha256 (--dest oci-archive)', requiresArg: true },
        ...sharedBlobDirFlags,
        since: {
          type: 'string',
          describe: 'earlier archives: leave out of the archive every blob they (or their ARCHIVE.index.json) carried (--dest oci-archive); read from them the blobs the archive leaves out (--src oci-archive)',
          requiresArg: true,
        },
        'keep-going': { type: 'boolean', describe: 'do not stop at an image that fails; exit 1 at the end if any did' },
        'image-parallel-copies': { type: 'number', describe: 'blobs copied at once per image', requiresArg: true, default: 6 },
        'parallel-images': { type: 'number', describe: 'images copied at once', requiresArg: true, default: 4 },
        'parallel-blobs': { type: 'number', describe: 'blobs copied at once over all images', requiresArg: true, default: 16 },
        report: { type: 'string', describe: 'write one JSON line per image (source order) to FILE', requiresArg: true },
        digestfile: { type: 'string', describe: 'write the digest and destination of each copied image to PATH, one per line', requiresArg: true },
        quiet: { alias: 'q', type: 'boolean', describe: 'print no progress' },
        progress: { type: 'string', choices: ['tty', 'plain', 'json'], describe: 'progress output on stderr', requiresArg: true, defaultDescription: 'tty on a terminal, else plain' },
        // which repositories and images of registry sources (src/sync/filters.ts, src/sync/shard.ts)
        include: { type: 'string', describe: 'sync only repositories (glob, or REPO:TAG with a ":", or regex:RE) matching PATTERN; repeatable', requiresArg: true },
        exclude: { type: 'string', describe: 'leave out repositories or images matching PATTERN (wins over --include); repeatable', requiresArg: true },
        shard: { type: 'string', describe: 'sync only shard K of N of the repositories (K/N, counted from 1; auto or auto/N: $JOB_COMPLETION_INDEX, $FERRY_SHARD_COUNT)', requiresArg: true },
      })
      .example('$0 sync --src docker --dest dir --scoped registry.example.com/busybox /media/usb', 'copy every tag of a repository into directories')
      .example('$0 sync --src yaml --dest docker sync.yaml mirror.example.com/team', 'copy the images a YAML file lists into a registry')
      .example('$0 sync --src docker --dest docker --exclude "**:*-rc*" --shard 1/3 registry.example.com/team/ mirror.example.com', 'copy a third of the repositories under team/, without release candidates'),
  async handler(args, cli) {
    const srcKind = args['src'] as SyncSourceKind;
    const destKind = args['dest'] as SyncDestKind;
    if (srcKind === 'dir' && destKind === 'dir') throw usage("sync from 'dir' to 'dir' is not implemented, consider using rsync instead");
    const { copyOptionsFromArgs } = await import('./copy.js');
    const { policyFromArgs } = await import('../options/policy.js');
    const copy = { ...copyOptionsFromArgs(args, cli.io.env), policy: await policyFromArgs(args, cli.io.env, cli.signal) };
    Object.assign(copy, await signingFromArgs(args, cli));
    const srcCtx = copy.srcCtx ?? {};
    delete copy.srcCtx;
    // --since: the earlier archives an archive written here builds on, else those an archive read here builds on.
    // Repeated, not greedy (an array option would take the positional arguments that follow it).
    const since = ([] as unknown[]).concat(args['since'] ?? []).map(String);
    if (since.length > 0 && destKind !== 'oci-archive') {
      if (srcKind !== 'oci-archive') throw usage('--since applies only to --dest oci-archive or --src oci-archive');
      srcCtx.archiveSince = since;
    }
    const source = String(args['SOURCE']);
    const destination = String(args['DESTINATION']);
    const dryRun = Boolean(args['dry-run']);
    // the plan is the only output --output formats: given without --dry-run it would be ignored
    if (!dryRun && args['output'] !== 'text') throw usage('--output json applies only to --dry-run');
    const keepGoing = Boolean(args['keep-going']);
    const mode: ProgressMode = args['quiet'] ? 'quiet' : ((args['progress'] as ProgressMode | undefined) ?? (cli.io.stderr.isTTY ? 'tty' : 'plain'));
    const text = mode === 'tty' || mode === 'plain';
    /** The live view of the images being copied (compact output on a terminal), set below. */
    let view: SyncView | undefined;
    /** A permanent line: above the live view when there is one. */
    const line = async (s: string) => {
      if (view) view.line(s);
      else await write(cli.io.stderr, s + '\n');
    };
    const say = async (message: string) => {
      if (text) await line(message);
    };
    const json = async (value: Record<string, unknown>) => {
      if (mode === 'json') await write(cli.io.stderr, JSON.stringify(value) + '\n');
    };

    // --- prune options (checked before anything is opened) ---
    const prune = Boolean(args['prune']);
    const { parsePruneMax, DEFAULT_PRUNE_MAX } = await import('../../sync/prune.js');
    if (args['prune-max'] !== undefined && !prune) throw usage('--prune-max needs --prune');
    if (prune && destKind !== 'docker') throw usage('--prune applies only to --dest docker');
    const pruneMax = args['prune-max'] !== undefined ? parsePruneMax(String(args['prune-max'])) : DEFAULT_PRUNE_MAX;
    // --- end prune options ---

    const positive = (flag: string): number => {
      const n = args[flag] as number;
      if (!Number.isInteger(n) || n < 1) throw usage(`--${flag} must be a positive integer`);
      return n;
    };
    const parallelImages = positive('parallel-images');
    const parallelBlobs = positive('parallel-blobs');
    // Images finishing in any order: one line each as they finish, instead of the per-blob lines of one copy.
    const compact = parallelImages > 1 && !dryRun;
    const { SyncView, canShowSyncView } = await import('../output/sync-view.js');
    if (compact && mode === 'tty' && canShowSyncView(cli.io.stderr)) view = new SyncView(cli.io.stderr);
    const retryTimes = args['retry-times'] as number | undefined;

    const { syncSources } = await import('../../sync/sources.js');
    const { syncImages } = await import('../../sync/sync.js');
    const { createProgressRenderer, formatBytes } = await import('../output/progress.js');
    const select = await selectionFromArgs(args, cli.io.env);
    const leftOut: LeftOutSource[] = [];
    const groups = await syncSources(srcKind, source, srcCtx, {
      signal: cli.signal,
      select,
      onLeftOut: (l) => leftOut.push(l),
      onWarning: (m: string) => void write(cli.io.stderr, `Warning: ${redactCredentials(m)}\n`),
    });
    const { openSyncTarget } = await import('../../sync/archive-dest.js');
    const { parseSplitSize } = await import('../../transports/shared/split-parts.js');
    const splitSize = args['split-size'] !== undefined ? parseSplitSize(String(args['split-size'])) : undefined;
    const target = await openSyncTarget(destKind, destination, copy.destCtx ?? {}, { signal: cli.signal, dryRun, since: destKind === 'oci-archive' ? since : [], splitSize });

    // --- sync plan and prune ---
    const pruneOptions = {
      destKind,
      destination,
      target,
      scoped: Boolean(args['scoped']),
      appendSuffix: (args['append-suffix'] as string | undefined) ?? '',
      destCtx: copy.destCtx ?? {},
      max: pruneMax,
      leftOut,
      signal: cli.signal,
      onWarning: (m: string) => void write(cli.io.stderr, `Warning: ${redactCredentials(m)}\n`),
    };
    if (dryRun) {
      try {
        return await dryRunPlan();
      } finally {
        await target?.close();
        for (const g of groups) await g.close?.();
      }
    }
    async function dryRunPlan(): Promise<number> {
      const { planSync } = await import('../../sync/plan.js');
      const { planPrune } = await import('../../sync/prune.js');
      const { planText, planJson } = await import('../output/sync-plan.js');
      const plan = await planSync(groups, {
        ...pruneOptions,
        copy,
        keepGoing,
        onImage: async (p) => {
          if (p.unlisted) {
            await write(cli.io.stderr, `Error processing repo ${p.group}, skipping: ${oneLine(p.error)}\n`);
            return;
          }
          await say(imageRefLine('Would have copied', p));
          await json({ kind: 'sync-image', index: p.index, count: p.count, from: p.from, to: p.to, dryRun: true });
        },
      });
      const pruning = prune ? await planPrune(groups, pruneOptions) : undefined;
      await write(cli.io.stdout, args['output'] === 'json' ? planJson(plan, pruning) : planText(plan, pruning));
      // skopeo's count: every image listed (one the real run would fail on too; the plan says which)
      const failedSources = plan.images.filter((p) => p.unlisted);
      const listed = plan.images.length - failedSources.length;
      await say(`Would have synced ${listed} images from ${plan.sources} sources`);
      await json({ kind: 'sync-done', images: listed, sources: plan.sources, failures: failedSources.length, dryRun: true });
      if (failedSources.length > 0) {
        await write(cli.io.stderr, `Error: ${failureSummary(failedSources.map((f) => ({ what: f.group, error: f.error })), listed)}\n`);
        return 1;
      }
      const refused = (pruning ?? []).flatMap((r) => (r.refused !== undefined ? [r.refused] : []));
      if (refused.length > 0) throw new FerryError(ErrorCode.Refused, refused.join('; '));
      return 0;
    }
    // --- end sync plan and prune ---

    const digestFile = args['digestfile'] as string | undefined;
    const digests = new Map<number, string>();
    const reportFile = args['report'] as string | undefined;
    const { SyncReport } = await import('../../sync/report.js');
    const report = reportFile !== undefined && !dryRun ? await SyncReport.create(reportFile) : undefined;
    let renderer: Awaited<ReturnType<typeof createProgressRenderer>> | undefined;
    const reporter: SyncReporter = {
      async imageStart(image: SyncImage) {
        if (!compact) await say(imageRefLine(dryRun ? 'Would have copied' : 'Copying', image));
        await json({ kind: 'sync-image', index: image.index, count: image.count, from: image.from, to: image.to, dryRun });
        if (view && !dryRun) {
          const v = view;
          v.start(image.seq, image.index, image.count, image.from);
          return { onProgress: (e) => v.onProgress(image.seq, e), onImage: (e) => v.onImage(image.seq, e) };
        }
        if (dryRun || compact) return;
        renderer = await createProgressRenderer(mode, cli.io.stderr);
        const r = renderer;
        return { onProgress: (e) => r.onProgress(e), onImage: (e) => r.onImage(e), onPhase: (p) => r.onPhase(p) };
      },
      async imageEnd(image, outcome) {
        view?.end(image.seq);
        await renderer?.finish();
        renderer = undefined;
        if (outcome.digest !== undefined) digests.set(image.seq, `${outcome.digest} ${image.to}\n`);
        const error = outcome.error !== undefined ? oneLine(outcome.error) : '';
        if (dryRun) return;
        const action = error !== '' ? 'failed' : outcome.skipped ? 'skipped' : 'copied';
        report?.record(image.seq, { source: image.from, destination: image.to, digest: outcome.digest ?? '', action, bytes: outcome.bytes, seconds: outcome.seconds, error });
        await json({ kind: 'sync-image-done', index: image.index, count: image.count, from: image.from, to: image.to, action, digest: outcome.digest ?? '', bytes: outcome.bytes, seconds: outcome.seconds, ...(error !== '' ? { error } : {}) });
        if (error !== '') {
          if (keepGoing) await line(`Error copying ref ${image.from}: ${error}`);
          return;
        }
        const ref = `image ref ${image.index}/${image.count} from ${image.from} to ${image.to}`;
        if (compact) {
          await say(
            outcome.skipped
              ? `Skipped ${ref}: image already present at destination`
              : `Copied ${ref}: ${outcome.digest} (${formatBytes(outcome.bytes)} in ${outcome.seconds.toFixed(1)}s)`,
          );
        } else if (outcome.skipped) await say('Skipping: image already present at destination');
      },
      async imageStopped(image) {
        view?.end(image.seq);
        report?.record(image.seq, null);
      },
      async groupFailed(group, error, seq) {
        report?.record(seq, { source: group, destination: '', digest: '', action: 'failed', bytes: 0, seconds: 0, error: oneLine(error) });
        await line(`Error processing repo ${group}, skipping: ${oneLine(error)}`);
      },
      async groupEmpty(group) {
        await say(`No refs to sync found in ${group}`);
      },
    };
    const { onRegistryWait } = await import('../../registry/rate-limit.js');
    const { waitLine } = await import('../output/progress.js');
    const stopWaits = onRegistryWait((e) => {
      if (mode === 'json') void json({ ...e });
      else if (renderer) renderer.onWait(e);
      else if (text) void line(waitLine(e));
    });
    let result;
    const naming = { destKind, destination, target, scoped: Boolean(args['scoped']), appendSuffix: (args['append-suffix'] as string | undefined) ?? '' };
    try {
      // An incremental archive: the blobs it leaves out must be at the destination before anything is pushed.
      if (!dryRun) await (await import('../../sync/expected-blobs.js')).checkExpectedBlobs(groups, { ...naming, copy, signal: cli.signal });
      result = await syncImages(groups, {
        ...naming,
        copy,
        dryRun,
        keepGoing,
        parallelImages,
        parallelBlobs,
        retry: retryTimes !== undefined ? { times: retryTimes, delayMs: srcCtx.retryDelayMs } : undefined,
        reporter,
        signal: cli.signal,
      });
      await target?.commit({ signal: cli.signal });
      // --- prune: after the copies, with what the source lists now ---
      if (prune) {
        const { planPrune, executePrune } = await import('../../sync/prune.js');
        const pruning = await planPrune(groups, pruneOptions);
        let at = 0;
        await executePrune(pruning, {
          destCtx: pruneOptions.destCtx,
          signal: cli.signal,
          onPruned: async (t, seconds) => {
            report?.record(PRUNE_REPORT_BASE + at++, { source: '', destination: t.name, digest: t.digest, action: 'pruned', bytes: 0, seconds, error: '' });
            await json({ kind: 'sync-prune-done', to: t.name, action: 'pruned', digest: t.digest, seconds });
            await say(`Pruned ${t.name}: ${t.digest} (${t.reason})`);
          },
        });
        const refused = pruning.flatMap((r) => (r.refused !== undefined ? [r.refused] : []));
        if (refused.length > 0) throw new FerryError(ErrorCode.Refused, refused.join('; '));
      }
      // --- end prune ---
    } finally {
      stopWaits();
      await renderer?.finish();
      await view?.finish();
      view = undefined;
      await report?.close();
      const inOrder = [...digests.entries()].sort((a, b) => a[0] - b[0]).map(([, line]) => line);
      if (digestFile !== undefined && !dryRun) await writeDigests(digestFile, inOrder);
      await target?.close();
      for (const g of groups) await g.close?.();
    }
    await say(`${dryRun ? 'Would have synced' : 'Synced'} ${result.images} images from ${result.sources} sources`);
    await json({ kind: 'sync-done', images: result.images, sources: result.sources, failures: result.failures.length, dryRun, ...(dryRun ? {} : { skipped: result.skipped }) });
    if (result.failures.length > 0) {
      await write(cli.io.stderr, `Error: ${failureSummary(result.failures, result.images)}\n`);
      return 1;
    }
    return 0;
  },
};

/** `--include`, `--exclude` and `--shard`. */
async function selectionFromArgs(args: Record<string, unknown>, env: Record<string, string | undefined>) {
  // a flag given once is a string, given several times an array
  const list = (flag: string) => [args[flag] ?? []].flat().map(String);
  const { ImageFilter } = await import('../../sync/filters.js');
  const { parseShard } = await import('../../sync/shard.js');
  const filter = ImageFilter.parse(list('include'), list('exclude'));
  const shard = args['shard'] !== undefined ? parseShard(String(args['shard']), env) : undefined;
  return { filter, shard };
}

/** Report positions of pruned tags: after every image (the report is written in position order). */
const PRUNE_REPORT_BASE = 2 ** 40;

/**
 * `--digestfile`: written whole or not at all (a temporary file renamed over it), or into a stream (`/dev/stdout`, a
 * FIFO) as it is; never through a symlink or over anything else that is not a regular file.
 */
async function writeDigests(file: string, lines: string[]): Promise<void> {
  const { classifyArchiveTarget, openSequentialOutput } = await import('../../util/stream-files.js');
  const { writeFileAtomic } = await import('../../util/atomic.js');
  const what = `digest file ${file}`;
  let target;
  try {
    target = await classifyArchiveTarget(file, what);
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.Unsupported) throw new FerryError(ErrorCode.Io, `${what} exists and is not a regular file`);
    throw e;
  }
  try {
    if (target.kind === 'file') return await writeFileAtomic(file, lines.join(''));
    const out = await openSequentialOutput(target, what);
    try {
      await new Promise<void>((resolve, reject) => out.stream.write(lines.join(''), (e) => (e ? reject(e) : resolve())));
      await out.finish();
    } catch (e) {
      await out.abort();
      throw e;
    }
  } catch (e) {
    if (e instanceof FerryError && e.message.includes(file)) throw e;
    throw new FerryError(ErrorCode.Io, `writing ${what}: ${(e as Error).message}`, { cause: e });
  }
}

export default spec;
