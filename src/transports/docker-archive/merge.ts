/**
 * A `docker save` archive holding several images: a freshly written one-image archive merged into an existing
 * archive. The new image's names are taken away from the old images (`RepoTags` and `repositories`); an old image
 * left with none of its names is dropped, with the files only it used (its config, its layers, the legacy layer
 * directories whose `layer.tar` is one of them). Every other entry of the old archive is copied as it is, in
 * order, then the new image's entries that are not already there (layers and configs are named by digest, so one
 * stored by an old image is stored once), then the merged `manifest.json` (old images first, the new one last) and
 * `repositories`. Readers (docker load, skopeo, ferry) find every image through `manifest.json`.
 */
import { posix } from 'node:path';
import { FerryError, ErrorCode } from '../../errors.js';
import { goMarshal, quoteGo } from '../../manifest/go-json.js';
import type { OpOptions } from '../../types/context.js';
import { copyTarEntry } from '../shared/archive-rewrite.js';
import { MANIFEST_FILE, MAX_JSON_SIZE, type ManifestItem, normalizeRepoTag, parseManifestJson, REPOSITORIES_FILE } from './format.js';
import { marshalMap } from './legacy.js';
import type { TarIndex } from '../../tar/file-index.js';
import type { TarWriter } from '../../tar/writer.js';

/** The `manifest.json` items of an archive. */
async function itemsOf(tar: TarIndex, opts: OpOptions): Promise<ManifestItem[]> {
  const m = tar.resolve(MANIFEST_FILE);
  if (!m) throw new FerryError(ErrorCode.InvalidManifest, `${tar.what}: not a docker archive (no ${MANIFEST_FILE})`);
  return parseManifestJson(await tar.readEntry(m, MAX_JSON_SIZE, opts), tar.what);
}

/** `repositories` as repository → tag → layer ID (JSON-encoded), or empty when missing or not that shape. */
async function repositoriesOf(tar: TarIndex, opts: OpOptions): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  const e = tar.resolve(REPOSITORIES_FILE);
  if (!e) return out;
  let v: unknown;
  try {
    v = JSON.parse((await tar.readEntry(e, MAX_JSON_SIZE, opts)).toString('utf8'));
  } catch (err) {
    if (err instanceof FerryError && err.code !== ErrorCode.InvalidManifest) throw err;
    return out; // a legacy file that does not parse is not needed by any reader of manifest.json
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [repo, tags] of Object.entries(v as Record<string, unknown>)) {
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) continue;
    const m = new Map<string, string>();
    for (const [tag, id] of Object.entries(tags as Record<string, unknown>)) if (typeof id === 'string') m.set(tag, quoteGo(id));
    out.set(repo, m);
  }
  return out;
}

/** The archive entry name a path of `manifest.json` resolves to (links followed), or undefined. */
function fileOf(tar: TarIndex, path: string): string | undefined {
  try {
    return tar.resolve(path)?.name;
  } catch {
    return undefined;
  }
}

/**
 * Writes into `tar` the old archive with the image of `fresh` (a one-image archive) added, then finishes it.
 * @throws FerryError(E_INVALID_MANIFEST) when the old archive is not a docker archive; E_IO.
 */
export async function writeMergedDockerArchive(old: TarIndex, fresh: TarIndex, tar: TarWriter, opts: OpOptions = {}): Promise<void> {
  const oldItems = await itemsOf(old, opts);
  const [freshItem] = await itemsOf(fresh, opts);
  if (!freshItem) throw new FerryError(ErrorCode.Io, `${fresh.what}: no image was written`);
  const taken = new Set(freshItem.RepoTags.map((t) => normalizeRepoTag(t) ?? t));
  const isTaken = (t: string) => taken.has(normalizeRepoTag(t) ?? t);

  const kept: ManifestItem[] = [];
  const dropped: ManifestItem[] = [];
  for (const item of oldItems) {
    const left = item.RepoTags.filter((t) => !isTaken(t));
    if (item.RepoTags.length > 0 && left.length === 0) dropped.push(item);
    else kept.push({ ...item, RepoTags: left });
  }
  const filesOf = (items: ManifestItem[]) =>
    new Set(items.flatMap((it) => [it.Config, ...it.Layers]).map((p) => fileOf(old, p)).filter((n): n is string => n !== undefined));
  const keptFiles = filesOf(kept);
  const droppedFiles = new Set([...filesOf(dropped)].filter((n) => !keptFiles.has(n)));
  // Legacy layer directories (`<id>/layer.tar` and its siblings) of layers that are dropped.
  const droppedDirs = new Set<string>();
  for (const e of old.list) {
    if (posix.basename(e.name) !== 'layer.tar' || posix.dirname(e.name) === '.') continue;
    const target = e.kind === 'file' ? e.name : fileOf(old, e.name);
    if (target !== undefined && droppedFiles.has(target)) droppedDirs.add(posix.dirname(e.name));
  }
  const isDropped = (name: string): boolean => {
    if (name === MANIFEST_FILE || name === REPOSITORIES_FILE || droppedFiles.has(name)) return true;
    if (droppedDirs.has(name) || droppedDirs.has(posix.dirname(name))) return true;
    const old1 = old.entries.get(name);
    if (old1 && (old1.kind === 'symlink' || old1.kind === 'hardlink')) {
      const target = fileOf(old, name);
      return target !== undefined && droppedFiles.has(target);
    }
    return false;
  };

  const written = new Set<string>();
  for (const e of old.list) {
    if (isDropped(e.name) || written.has(e.name)) continue;
    await copyTarEntry(old, e, tar, opts);
    written.add(e.name);
  }
  for (const e of fresh.list) {
    if (e.name === MANIFEST_FILE || e.name === REPOSITORIES_FILE || written.has(e.name)) continue;
    await copyTarEntry(fresh, e, tar, opts);
    written.add(e.name);
  }

  const manifestJson = Buffer.from(goMarshal([...kept, freshItem]));
  await tar.addFile(MANIFEST_FILE, manifestJson.length, manifestJson, opts);
  const repos = await repositoriesOf(old, opts);
  for (const [repo, tags] of repos) {
    for (const tag of [...tags.keys()]) if (isTaken(`${repo}:${tag}`)) tags.delete(tag);
    if (tags.size === 0) repos.delete(repo);
  }
  for (const [repo, tags] of await repositoriesOf(fresh, opts)) {
    const m = repos.get(repo) ?? new Map<string, string>();
    for (const [tag, id] of tags) m.set(tag, id);
    repos.set(repo, m);
  }
  const reposJson = Buffer.from(marshalMap(new Map([...repos].map(([k, v]) => [k, marshalMap(v)] as const))));
  await tar.addFile(REPOSITORIES_FILE, reposJson.length, reposJson, opts);
  await tar.finish();
}
