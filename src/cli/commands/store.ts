/**
 * `ferry store SUBCOMMAND`: the local image store (containers/storage format, shared with podman and
 * skopeo): images, layers, containers, inspect, rmi, create, mount, unmount, rm, prune, df.
 */
import type { CommandSpec, CliContext } from '../command.js';
import { write } from '../io.js';
import { printJson } from '../output/json.js';
import { formatBytes } from '../output/progress.js';
import { applyStorageArgs, storageFlags } from '../options/storage.js';
import { FerryError, ErrorCode } from '../../errors.js';

const SUBCOMMANDS: Record<string, string> = {
  images: 'list images',
  layers: 'list layers',
  containers: 'list containers',
  inspect: 'IMAGE: show an image (ID, names, digest, layers, big data)',
  rmi: 'IMAGE...: remove images and the layers only they use (--force: also their containers)',
  create: '--name NAME IMAGE: create a container (a writable layer on top of IMAGE)',
  mount: 'CONTAINER: mount a container with overlayfs and print the merged path',
  unmount: 'CONTAINER: unmount a container (--force: even if mounted several times)',
  rm: 'CONTAINER...: remove containers (unmounting them)',
  prune: 'remove layers no image or container uses',
  df: 'show disk usage (shared layers counted once)',
};

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

async function handle(args: Record<string, unknown>, cli: CliContext): Promise<number> {
  const sub = String(args['SUBCOMMAND']);
  const rest = ((args['ARGS'] as unknown[] | undefined) ?? []).map(String);
  if (!Object.hasOwn(SUBCOMMANDS, sub)) throw usage(`unknown store subcommand "${sub}"; expected one of: ${Object.keys(SUBCOMMANDS).join(', ')}`);
  const options = await applyStorageArgs(args, cli.io.env);
  const { Store } = await import('../../store/store.js');
  const hk = await import('../../store/housekeeping.js');
  const store = new Store(options);
  const op = { signal: cli.signal, force: Boolean(args['force']) };
  const out = cli.io.stdout;
  const json = Boolean(args['json']);
  const need = (n: number, what: string) => {
    if (rest.length < n) throw usage(`store ${sub} needs ${what}`);
  };
  switch (sub) {
    case 'images': {
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
    }
    case 'layers': {
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
    }
    case 'containers': {
      const cs = await store.containers(op);
      if (json) {
        await printJson(out, cs);
        return 0;
      }
      const rows = [['CONTAINER ID', 'IMAGE ID', 'NAMES', 'CREATED']];
      for (const c of cs) rows.push([c.id.slice(0, 12), c.image.slice(0, 12), (c.names ?? []).join(','), ago(c.created)]);
      await write(out, table(rows));
      return 0;
    }
    case 'inspect': {
      need(1, 'an IMAGE');
      const img = await store.findImage(rest[0]!, op);
      if (!img) throw new FerryError(ErrorCode.NotFound, `image ${rest[0]} not found in the store`);
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
    }
    case 'rmi': {
      need(1, 'at least one IMAGE');
      for (const spec of rest) {
        const r = await hk.removeImage(store, spec, op);
        for (const n of r.image.names ?? []) await write(out, `Untagged: ${n}\n`);
        await write(out, `Deleted: ${r.image.id}\n`);
      }
      return 0;
    }
    case 'create': {
      need(1, 'an IMAGE');
      const c = await hk.createContainer(store, rest[0]!, args['name'] as string | undefined, op);
      await write(out, `${c.id}\n`);
      return 0;
    }
    case 'mount': {
      need(1, 'a CONTAINER');
      await write(out, `${await hk.mountContainer(store, rest[0]!, op)}\n`);
      return 0;
    }
    case 'unmount': {
      need(1, 'a CONTAINER');
      await hk.unmountContainer(store, rest[0]!, op);
      await write(out, `${rest[0]}\n`);
      return 0;
    }
    case 'rm': {
      need(1, 'at least one CONTAINER');
      for (const spec of rest) await write(out, `${(await hk.removeContainer(store, spec, op)).id}\n`);
      return 0;
    }
    case 'prune': {
      const removed = await hk.pruneLayers(store, op);
      for (const id of removed.layers) await write(out, `${id}\n`);
      return 0;
    }
    case 'df': {
      const u = await hk.diskUsage(store, op);
      if (json) {
        await printJson(out, u);
        return 0;
      }
      const imageUnique = u.images.reduce((s, i) => s + i.uniqueSize, 0);
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
      void imageUnique;
      return 0;
    }
  }
  return 0;
}

const spec: CommandSpec = {
  command: 'store SUBCOMMAND [ARGS..]',
  describe: 'Manage the local image store (containers/storage format, shared with podman and skopeo)',
  builder: (y) =>
    y
      .positional('SUBCOMMAND', { type: 'string', describe: `one of: ${Object.keys(SUBCOMMANDS).join(', ')} (see below)` })
      .positional('ARGS', { type: 'string', array: true, describe: 'images or containers' })
      .options({
        ...storageFlags,
        json: { type: 'boolean', describe: 'print JSON (images, layers, containers, df)' },
        force: { type: 'boolean', describe: 'rmi: also remove containers using the image; unmount: unmount at once' },
        name: { type: 'string', describe: 'create: the container name', requiresArg: true },
      })
      .epilog(`Subcommands:\n${Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(11)} ${v}`).join('\n')}`)
      .example('$0 copy docker://registry.example.com/app:1 containers-storage:registry.example.com/app:1', 'pull into the store')
      .example('$0 store images --root /tmp/store --runroot /tmp/run', 'list the images of a store'),
  handler: handle,
};
export default spec;
