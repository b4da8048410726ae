/**
 * `ferry store SUBCOMMAND`: the local image store (containers/storage format, shared with podman and skopeo).
 * Each subcommand is a yargs command of its own, with its own options and `--help`.
 */
import type { Argv, Options } from 'yargs';
import type { CommandHandler, CommandSpec, CliContext, RunHandler } from '../command.js';
import { write } from '../io.js';
import { printJson } from '../output/json.js';
import { formatBytes } from '../output/progress.js';
import { applyStorageArgs, storageFlags } from '../options/storage.js';
import { FerryError, ErrorCode } from '../../errors.js';

const usage = (m: string) => new FerryError(ErrorCode.Usage, m);

/** "5 minutes ago", "2 years ago", like podman. */
export function ago(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const units: Array<[number, string]> = [[31536000, 'year'], [2592000, 'month'], [604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [n, name] of units) {
    const v = Math.floor(s / n);
    if (v >= 1) return `${v} ${name}${v > 1 ? 's' : ''} ago`;
  }
  return `${s} second${s === 1 ? '' : 's'} ago`;
}

/** Splits a stored name into repository and tag (`<none>` when there is none). */
export function splitName(name: string): { repository: string; tag: string } {
  const at = name.indexOf('@');
  if (at !== -1) return { repository: name.slice(0, at), tag: '<none>' };
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return { repository: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repository: name, tag: '<none>' };
}

/** Renders rows as left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}

/** The store the flags name, with the housekeeping operations and what every subcommand needs. */
async function openStore(args: Record<string, unknown>, cli: CliContext) {
  const options = await applyStorageArgs(args, cli.io.env);
  const { Store } = await import('../../store/store.js');
  const hk = await import('../../store/housekeeping.js');
  return { store: new Store(options), hk, op: { signal: cli.signal, force: Boolean(args['force']) }, out: cli.io.stdout, json: Boolean(args['json']) };
}

const images: CommandHandler = async (args, cli) => {
  const { store, hk, op, out, json } = await openStore(args, cli);
  const usage = await hk.diskUsage(store, op);
  const images = await store.images(op);
  if (json) {
    await printJson(out, images.map((i) => ({ id: i.id, names: i.names ?? [], digest: i.digest ?? '', layer: i.layer ?? '', created: i.created ?? '', size: usage.images.find((u) => u.id === i.id)?.size ?? 0 })));
    return 0;
  }
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const i of images) {
    const size = formatBytes(usage.images.find((u) => u.id === i.id)?.size ?? 0);
    const names = i.names && i.names.length > 0 ? i.names : ['<none>'];
    for (const n of names) {
      const { repository, tag } = n === '<none>' ? { repository: '<none>', tag: '<none>' } : splitName(n);
      rows.push([repository, tag, i.id.slice(0, 12), ago(i.created), size]);
    }
  }
  await write(out, table(rows));
  return 0;
};

const layers: CommandHandler = async (args, cli) => {
  const { store, op, out, json } = await openStore(args, cli);
  const layers = await store.layers(op);
  if (json) {
    await printJson(out, layers);
    return 0;
  }
  const rows = [['ID', 'PARENT', 'DIFF DIGEST', 'SIZE', 'NAMES']];
  for (const l of layers) {
    rows.push([l.id.slice(0, 12), (l.parent ?? '').slice(0, 12), l['diff-digest'] ?? '', l['diff-size'] !== undefined ? formatBytes(l['diff-size']) : '', (l.names ?? []).join(',')]);
  }
  await write(out, table(rows));
  return 0;
};

const containers: CommandHandler = async (args, cli) => {
  const { store, op, out, json } = await openStore(args, cli);
  const cs = await store.containers(op);
  if (json) {
    await printJson(out, cs);
    return 0;
  }
  const rows = [['CONTAINER ID', 'IMAGE ID', 'NAMES', 'CREATED']];
  for (const c of cs) rows.push([c.id.slice(0, 12), c.image.slice(0, 12), (c.names ?? []).join(','), ago(c.created)]);
  await write(out, table(rows));
  return 0;
};

const inspect: CommandHandler = async (args, cli) => {
  const { store, op, out } = await openStore(args, cli);
  const name = String(args['IMAGE']);
  const img = await store.findImage(name, op);
  if (!img) throw new FerryError(ErrorCode.NotFound, `image ${name} not found in the store`);
  const { layerChain } = await import('../../transports/containers-storage/source.js');
  const chain = layerChain(await store.layers(op), img.layer);
  await printJson(out, {
    Id: img.id,
    Names: img.names ?? [],
    Digest: img.digest ?? '',
    Created: img.created ?? '',
    TopLayer: img.layer ?? '',
    Layers: chain.map((l) => ({
      Id: l.id,
      DiffDigest: l['diff-digest'] ?? '',
      DiffSize: l['diff-size'] ?? 0,
      CompressedDigest: l['compressed-diff-digest'] ?? '',
      CompressedSize: l['compressed-size'] ?? 0,
    })),
    BigDataNames: img['big-data-names'] ?? [],
    GraphRoot: store.graphRoot,
    Driver: store.options.driver,
  });
  return 0;
};

const rmi: CommandHandler = async (args, cli) => {
  const { store, hk, op, out } = await openStore(args, cli);
  for (const spec of (args['IMAGE'] as unknown[]).map(String)) {
    const r = await hk.removeImage(store, spec, op);
    for (const n of r.image.names ?? []) await write(out, `Untagged: ${n}\n`);
    await write(out, `Deleted: ${r.image.id}\n`);
  }
  return 0;
};

const create: CommandHandler = async (args, cli) => {
  const { store, hk, op, out } = await openStore(args, cli);
  const c = await hk.createContainer(store, String(args['IMAGE']), args['name'] as string | undefined, op);
  await write(out, `${c.id}\n`);
  return 0;
};

const mount: CommandHandler = async (args, cli) => {
  const { store, hk, op, out } = await openStore(args, cli);
  await write(out, `${await hk.mountContainer(store, String(args['CONTAINER']), op)}\n`);
  return 0;
};

const unmount: CommandHandler = async (args, cli) => {
  const { store, hk, op, out } = await openStore(args, cli);
  const container = String(args['CONTAINER']);
  await hk.unmountContainer(store, container, op);
  await write(out, `${container}\n`);
  return 0;
};

const rm: CommandHandler = async (args, cli) => {
  const { store, hk, op, out } = await openStore(args, cli);
  for (const spec of (args['CONTAINER'] as unknown[]).map(String)) await write(out, `${(await hk.removeContainer(store, spec, op)).id}\n`);
  return 0;
};

const prune: CommandHandler = async (args, cli) => {
  const { store, hk, op, out } = await openStore(args, cli);
  const removed = await hk.pruneLayers(store, op);
  for (const id of removed.layers) await write(out, `${id}\n`);
  return 0;
};

const df: CommandHandler = async (args, cli) => {
  const { store, hk, op, out, json } = await openStore(args, cli);
  const u = await hk.diskUsage(store, op);
  if (json) {
    await printJson(out, u);
    return 0;
  }
  const cSize = u.containers.reduce((s, c) => s + c.size, 0);
  await write(
    out,
    table([
      ['TYPE', 'TOTAL', 'SIZE'],
      ['Images', String(u.images.length), formatBytes(u.totalLayerSize - cSize)],
      ['Containers', String(u.containers.length), formatBytes(cSize)],
      ['Layers', String(u.layers), formatBytes(u.totalLayerSize)],
    ]) +
      '\n' +
      table([['IMAGE ID', 'NAMES', 'SIZE', 'UNIQUE SIZE', 'CONTAINERS'], ...u.images.map((i) => [i.id.slice(0, 12), i.names.join(',') || '<none>', formatBytes(i.size), formatBytes(i.uniqueSize), String(i.containers)])]),
  );
  return 0;
};

const json: Options = { type: 'boolean', describe: 'print JSON instead of a table' };

/** The subcommands: yargs command string, description, own options, handler. */
const SUBCOMMANDS: ReadonlyArray<{ command: string; describe: string; options?: Record<string, Options>; handler: CommandHandler }> = [
  { command: 'images', describe: 'list images', options: { json }, handler: images },
  { command: 'layers', describe: 'list layers', options: { json }, handler: layers },
  { command: 'containers', describe: 'list containers', options: { json }, handler: containers },
  { command: 'inspect <IMAGE>', describe: 'show an image (ID, names, digest, layers, big data)', handler: inspect },
  {
    command: 'rmi <IMAGE..>',
    describe: 'remove images and the layers only they use',
    options: { force: { type: 'boolean', describe: 'also remove the containers using the images' } },
    handler: rmi,
  },
  {
    command: 'create <IMAGE>',
    describe: 'create a container (a writable layer on top of IMAGE)',
    options: { name: { type: 'string', describe: 'the container name', requiresArg: true } },
    handler: create,
  },
  { command: 'mount <CONTAINER>', describe: 'mount a container with overlayfs and print the merged path', handler: mount },
  {
    command: 'unmount <CONTAINER>',
    describe: 'unmount a container',
    options: { force: { type: 'boolean', describe: 'unmount now, even if mounted several times' } },
    handler: unmount,
  },
  { command: 'rm <CONTAINER..>', describe: 'remove containers (unmounting them)', handler: rm },
  { command: 'prune', describe: 'remove layers no image or container uses', handler: prune },
  { command: 'df', describe: 'show disk usage (shared layers counted once)', options: { json }, handler: df },
];

const NAMES = SUBCOMMANDS.map((s) => s.command.split(' ')[0]!);

/** Reached when the word after `store` is no subcommand (or there is none). */
const noSubcommand: CommandHandler = async (args) => {
  const sub = args['SUBCOMMAND'];
  if (sub === undefined) throw usage(`store needs a subcommand; expected one of: ${NAMES.join(', ')}`);
  throw usage(`unknown store subcommand "${String(sub)}"; expected one of: ${NAMES.join(', ')}`);
};

function builder(y: Argv, run?: RunHandler): Argv {
  let b = y.options(storageFlags);
  for (const s of SUBCOMMANDS) {
    b = b.command(s.command, s.describe, (c) => c.options({ ...storageFlags, ...s.options }), run?.(s.handler));
  }
  return b
    .command('$0 [SUBCOMMAND]', false, (c) => c.options(storageFlags), run?.(noSubcommand))
    .example('$0 copy docker://registry.example.com/app:1 containers-storage:registry.example.com/app:1', 'pull into the store')
    .example('$0 store images --root /tmp/store --runroot /tmp/run', 'list the images of a store');
}

const spec: CommandSpec = {
  command: 'store',
  describe: 'Manage the local image store (containers/storage format, shared with podman and skopeo)',
  builder,
  hasSubcommands: true,
  handler: noSubcommand,
};
export default spec;
