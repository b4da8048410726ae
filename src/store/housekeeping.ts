/**
 * Containers, mounts and housekeeping on a store: create/remove containers (a writable layer on top of an
 * image), mount/unmount them with kernel overlayfs (or storage.conf's mount_program), remove images,
 * prune unreferenced layers, and disk usage. Records are changed under containers/storage's locks.
 */
import { lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode, notFound } from '../errors.js';
import { randomId } from './ids.js';
import { findImageRecord, findIn, type Store } from './store.js';
import { goTimeNow, isIncomplete, type ContainerRecord, type ImageRecord, type LayerRecord, type MountRecord } from './records.js';

/** Options of the operations here. */
export interface HousekeepingOptions {
  signal?: AbortSignal;
  force?: boolean;
}

/** Layers that must stay: every image's chain, every container's layer and its chain. */
function referencedLayers(layers: LayerRecord[], images: ImageRecord[], containers: ContainerRecord[]): Set<string> {
  const byId = new Map(layers.map((l) => [l.id, l]));
  const keep = new Set<string>();
  const walk = (id: string | undefined) => {
    for (let cur = id; cur && !keep.has(cur); cur = byId.get(cur)?.parent) keep.add(cur);
  };
  for (const i of images) walk(i.layer);
  for (const c of containers) walk(c.layer);
  return keep;
}

/**
 * Creates a container: a new empty layer on top of the image's top layer, recorded in layers.json and
 * containers.json (with containers/storage's per-container directories).
 * @throws FerryError(E_NOT_FOUND) for an unknown image, E_USAGE for a name already in use.
 */
export async function createContainer(store: Store, imageSpec: string, name: string | undefined, op: HousekeepingOptions = {}): Promise<ContainerRecord> {
  return store.write(['layers', 'images', 'containers'], op, async () => {
    const images = await store.readImagesUnlocked();
    const image = findImageRecord(images, imageSpec);
    if (!image) throw notFound(`image ${imageSpec} not found in the store`);
    const containers = await store.readContainersUnlocked();
    const layers = await store.readLayersUnlocked();
    const cname = name ?? `ferry-${randomId().slice(0, 12)}`;
    if (containers.some((c) => c.names?.includes(cname) || c.id === cname)) {
      throw new FerryError(ErrorCode.Usage, `the container name "${cname}" is already in use`);
    }
    const id = randomId();
    const layerId = randomId();
    store.driver.finalize(layerId, image.layer, undefined, false);
    const layer: LayerRecord = { id: layerId, names: [`${cname}-layer`], ...(image.layer ? { parent: image.layer } : {}), created: goTimeNow() };
    layers.push(layer);
    await store.writeLayersUnlocked(layers, op);
    const record: ContainerRecord = {
      id,
      names: [cname],
      image: image.id,
      layer: layerId,
      metadata: JSON.stringify({ 'image-name': image.names?.[0] ?? image.id, 'image-id': image.id, name: cname, 'created-at': Math.floor(Date.now() / 1000) }),
      created: goTimeNow(),
      flags: { MountLabel: '', ProcessLabel: '' },
    };
    containers.push(record);
    mkdirSync(join(store.dir('containers'), id, 'userdata'), { recursive: true, mode: 0o700 });
    mkdirSync(join(store.options.runRoot, `${store.options.driver}-containers`, id, 'userdata'), { recursive: true, mode: 0o700 });
    await store.writeContainersUnlocked(containers, op);
    return record;
  });
}

async function findContainer(store: Store, spec: string): Promise<ContainerRecord> {
  const c = findIn(await store.readContainersUnlocked(), spec, 'container');
  if (!c) throw notFound(`container ${spec} not found in the store`);
  return c;
}

/**
 * Mounts a container's layer (overlayfs: the image layers as lower dirs, the container layer as upper)
 * and returns the merged path. Mounting again counts up, as containers/storage does.
 * @throws FerryError(E_UNSUPPORTED) when not root and storage.conf has no mount_program.
 */
export async function mountContainer(store: Store, spec: string, op: HousekeepingOptions = {}): Promise<string> {
  return store.write(['layers', 'mounts', 'containers'], op, async () => {
    const c = await findContainer(store, spec);
    const mounts = await store.readMountsUnlocked();
    let m = mounts.find((x) => x.id === c.layer);
    const path = store.driver.mountPath(c.layer);
    if (m && m.count > 0 && (store.driver.name === 'vfs' || store.driver.isMounted(c.layer))) {
      m.count++;
    } else {
      await store.driver.mount(c.layer, { mountProgram: store.options.mountProgram, signal: op.signal });
      if (m) m.count = 1;
      else {
        m = { id: c.layer, path, count: 1 };
        mounts.push(m);
      }
      m.path = path;
    }
    await store.writeMountsUnlocked(mounts, op);
    return path;
  });
}

/**
 * Unmounts a container (counts down; unmounts at zero, or at once with `force`).
 * @returns whether the file system was unmounted.
 */
export async function unmountContainer(store: Store, spec: string, op: HousekeepingOptions = {}): Promise<boolean> {
  return store.write(['layers', 'mounts', 'containers'], op, async () => {
    const c = await findContainer(store, spec);
    const mounts = await store.readMountsUnlocked();
    const unmounted = await unmountLayer(store, mounts, c.layer, op.force ?? false, op);
    await store.writeMountsUnlocked(mounts, op);
    return unmounted;
  });
}

async function unmountLayer(store: Store, mounts: MountRecord[], layerId: string, force: boolean, op: HousekeepingOptions): Promise<boolean> {
  const i = mounts.findIndex((x) => x.id === layerId);
  if (i !== -1) {
    mounts[i]!.count--;
    if (mounts[i]!.count > 0 && !force) return false;
    mounts.splice(i, 1);
  }
  return store.driver.unmount(layerId, { signal: op.signal });
}

/** Removes a container, its layer and directories (unmounting it first). */
export async function removeContainer(store: Store, spec: string, op: HousekeepingOptions = {}): Promise<ContainerRecord> {
  return store.write(['layers', 'mounts', 'containers'], op, async () => {
    const c = await findContainer(store, spec);
    await dropContainersUnlocked(store, [c], op);
    return c;
  });
}

async function dropContainersUnlocked(store: Store, drop: ContainerRecord[], op: HousekeepingOptions): Promise<void> {
  const mounts = await store.readMountsUnlocked();
  const ids = new Set(drop.map((c) => c.id));
  for (const c of drop) await unmountLayer(store, mounts, c.layer, true, op);
  await store.writeMountsUnlocked(mounts, op);
  const layerIds = new Set(drop.map((c) => c.layer));
  const layers = (await store.readLayersUnlocked()).filter((l) => !layerIds.has(l.id));
  await store.writeLayersUnlocked(layers, op);
  for (const id of layerIds) store.removeLayerContent(id);
  const containers = (await store.readContainersUnlocked()).filter((c) => !ids.has(c.id));
  await store.writeContainersUnlocked(containers, op);
  for (const c of drop) {
    rmSync(join(store.dir('containers'), c.id), { recursive: true, force: true });
    rmSync(join(store.options.runRoot, `${store.options.driver}-containers`, c.id), { recursive: true, force: true });
  }
}

/**
 * Removes an image and the layers only it used. Refuses while containers use it, unless `force`
 * (which removes those containers too).
 * @returns the IDs of the layers removed.
 */
export async function removeImage(store: Store, spec: string, op: HousekeepingOptions = {}): Promise<{ image: ImageRecord; layers: string[] }> {
  return store.write(['layers', 'mounts', 'images', 'containers'], op, async () => {
    let images = await store.readImagesUnlocked();
    const image = findImageRecord(images, spec);
    if (!image) throw notFound(`image ${spec} not found in the store`);
    const users = (await store.readContainersUnlocked()).filter((c) => c.image === image.id);
    if (users.length > 0) {
      if (!op.force) {
        const names = users.map((c) => c.names?.[0] ?? c.id.slice(0, 12)).join(', ');
        throw new FerryError(ErrorCode.Usage, `image ${spec} is in use by container(s) ${names}; remove them first or use --force`);
      }
      await dropContainersUnlocked(store, users, op);
    }
    images = images.filter((i) => i.id !== image.id);
    let layers = await store.readLayersUnlocked();
    const containers = await store.readContainersUnlocked();
    const removed: string[] = [];
    for (let id = image.layer; id; ) {
      const l = layers.find((x) => x.id === id);
      if (!l) break;
      const used = images.some((i) => i.layer === id) || containers.some((c) => c.layer === id) || layers.some((x) => x.parent === id && !removed.includes(x.id));
      if (used) break;
      removed.push(id);
      id = l.parent;
    }
    layers = layers.filter((l) => !removed.includes(l.id));
    await store.writeLayersUnlocked(layers, op);
    await store.writeImagesUnlocked(images, op);
    for (const id of removed) store.removeLayerContent(id);
    rmSync(join(store.dir('images'), image.id), { recursive: true, force: true });
    return { image, layers: removed };
  });
}

/** What {@link pruneLayers} removed. */
export interface Pruned {
  /** Layer IDs. */
  layers: string[];
  /** Leftovers of killed pulls: staging directories, tar-split files, half-made layers (paths). */
  leftovers: string[];
}

/**
 * Removes layers no image or container references, and what killed pulls left behind (never what a live process
 * is still writing: see {@link Store.removeAbandonedStagingUnlocked}).
 */
export async function pruneLayers(store: Store, op: HousekeepingOptions = {}): Promise<Pruned> {
  return store.write(['layers', 'mounts', 'images', 'containers'], op, async () => {
    const layers = await store.readLayersUnlocked();
    const keep = referencedLayers(layers, await store.readImagesUnlocked(), await store.readContainersUnlocked());
    const mounts = await store.readMountsUnlocked();
    const drop = layers.filter((l) => !keep.has(l.id) && !mounts.some((m) => m.id === l.id && m.count > 0)).map((l) => l.id);
    await store.writeLayersUnlocked(layers.filter((l) => !drop.includes(l.id)), op);
    for (const id of drop) store.removeLayerContent(id);
    return { layers: drop, leftovers: await store.removeAbandonedStagingUnlocked() };
  });
}

/** Bytes under `dir`, counting each inode once (hardlinks), without following symlinks. */
export function directorySize(dir: string, seen = new Set<string>()): number {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = lstatSync(p);
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (st.isDirectory()) stack.push(p);
      else total += st.size;
    }
  }
  return total;
}

/** Disk usage: every image's size and the store's totals, shared layers counted once. */
export interface DiskUsage {
  images: Array<{ id: string; names: string[]; size: number; uniqueSize: number; containers: number }>;
  containers: Array<{ id: string; names: string[]; size: number }>;
  layers: number;
  totalLayerSize: number;
}

/** Computes {@link DiskUsage} (image layer sizes from layers.json; container layers measured on disk). */
export async function diskUsage(store: Store, op: HousekeepingOptions = {}): Promise<DiskUsage> {
  return store.read(['layers', 'images', 'containers'], op, async () => {
    const layers = (await store.readLayersUnlocked()).filter((l) => !isIncomplete(l));
    const images = await store.readImagesUnlocked();
    const containers = await store.readContainersUnlocked();
    const byId = new Map(layers.map((l) => [l.id, l]));
    const sizeOf = (l: LayerRecord) => l['diff-size'] ?? directorySize(store.driver.contentDir(l.id));
    const sizes = new Map(layers.map((l) => [l.id, sizeOf(l)]));
    const chainOf = (top: string | undefined) => {
      const out: string[] = [];
      // a parent loop (a hand-edited layers.json) ends where it comes back
      for (let id = top; id && byId.has(id) && !out.includes(id); id = byId.get(id)!.parent) out.push(id);
      return out;
    };
    const users = new Map<string, number>();
    for (const i of images) for (const id of chainOf(i.layer)) users.set(id, (users.get(id) ?? 0) + 1);
    return {
      images: images.map((i) => {
        const chain = chainOf(i.layer);
        return {
          id: i.id,
          names: i.names ?? [],
          size: chain.reduce((s, id) => s + (sizes.get(id) ?? 0), 0),
          uniqueSize: chain.filter((id) => users.get(id) === 1).reduce((s, id) => s + (sizes.get(id) ?? 0), 0),
          containers: containers.filter((c) => c.image === i.id).length,
        };
      }),
      containers: containers.map((c) => ({ id: c.id, names: c.names ?? [], size: sizes.get(c.layer) ?? 0 })),
      layers: layers.length,
      totalLayerSize: [...sizes.values()].reduce((a, b) => a + b, 0),
    };
  });
}
