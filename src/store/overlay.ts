/**
 * The overlay driver's directory layout (containers/storage drivers/overlay):
 * `overlay/<id>/{diff,link,lower,work,merged}` (+ `empty` for a base layer), short names
 * `overlay/l/<link>` → `../<id>/diff`, `lower` = the parents' short names (`l/A:l/B`, nearest first).
 * Layers are unpacked in `overlay/.ferry-staging/layer-<random>/` (the same mount as the layer directories:
 * containers/storage bind-mounts `overlay/` on itself) and renamed into place when committed.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FerryError, ErrorCode } from '../errors.js';
import { STAGING_DIR, type LayerDriver } from './driver.js';
import { randomLinkName } from './ids.js';
import type { WhiteoutMode } from './apply.js';
import { isRootless } from './userns.js';

const run = promisify(execFile);

/** A short link name (`overlay/l/<name>`): containers/storage makes 26 characters of base32. */
const LINK_NAME = /^[A-Z0-9]{1,64}$/;

/** Whether `path` is a mount point (its device differs from its parent's, or it is its parent). */
export function isMountPoint(path: string): boolean {
  try {
    const a = statSync(path);
    const b = statSync(join(path, '..'));
    return a.dev !== b.dev || a.ino === b.ino;
  } catch {
    return false;
  }
}

/** Runs a mount-like command, turning failures into FerryError(E_IO) with its stderr. */
export async function runMount(cmd: string, args: string[], what: string, opts: { cwd?: string; signal?: AbortSignal }): Promise<void> {
  try {
    await run(cmd, args, opts);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new FerryError(ErrorCode.Io, `${what}: ${(err.stderr || err.message).trim()}`, { cause: e });
  }
}

/** Paths and operations of one store's overlay directory. */
export class OverlayLayout implements LayerDriver {
  readonly name = 'overlay' as const;
  readonly home: string;
  /** `aufs` when storage.conf sets a mount_program (fuse-overlayfs reads `.wh.` files), else `overlay`. */
  readonly whiteoutMode: WhiteoutMode;
  /** `user.overlay.opaque` in a rootless store (kernel overlayfs mounted with `userxattr`), else `trusted.overlay.opaque`. */
  readonly opaqueXattr: string;
  private readonly rootless: boolean;

  constructor(graphRoot: string, opts: { mountProgram?: string; rootless?: boolean } = {}) {
    this.home = join(graphRoot, 'overlay');
    this.rootless = opts.rootless ?? isRootless();
    this.whiteoutMode = opts.mountProgram ? 'aufs' : 'overlay';
    this.opaqueXattr = this.rootless ? 'user.overlay.opaque' : 'trusted.overlay.opaque';
  }

  ensureDirs(): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    mkdirSync(join(this.home, 'l'), { recursive: true, mode: 0o755 });
  }

  contentDir(id: string): string {
    return this.diffDir(id);
  }

  mountPath(id: string): string {
    return join(this.home, id, 'merged');
  }

  isMounted(id: string): boolean {
    return isMountPoint(this.mountPath(id));
  }

  /**
   * storage.conf's mount_program (fuse-overlayfs) when set, else kernel overlayfs as root — in a rootless store's
   * user namespace with `userxattr` (its opaque directories carry `user.overlay.opaque`). Paths relative to home, like
   * containers/storage.
   */
  async mount(id: string, opts: { mountProgram?: string; signal?: AbortSignal }): Promise<string> {
    const o = this.mountOptions(id);
    const rel = (p: string) => p.slice(this.home.length + 1);
    const dirs = `lowerdir=${o.lower.map(rel).join(':')},upperdir=${rel(o.upper)},workdir=${rel(o.work)}`;
    const options = !opts.mountProgram && this.rootless ? `${dirs},userxattr` : dirs;
    const what = `mounting layer ${id}`;
    // storage.conf's mount_program wins whenever it is set, as in containers/storage.
    if (opts.mountProgram) await runMount(opts.mountProgram, ['-o', options, o.merged], what, { cwd: this.home, signal: opts.signal });
    else if (process.getuid?.() === 0) await runMount('mount', ['-t', 'overlay', 'overlay', '-o', options, o.merged], what, { cwd: this.home, signal: opts.signal });
    else throw new FerryError(ErrorCode.Unsupported, 'mounting overlays needs root, or a mount_program (e.g. fuse-overlayfs) in storage.conf');
    return o.merged;
  }

  async unmount(id: string, opts: { signal?: AbortSignal }): Promise<boolean> {
    const merged = this.mountPath(id);
    if (!isMountPoint(merged)) return false;
    await runMount('umount', [merged], `unmounting ${merged}`, opts);
    return true;
  }

  layerDir(id: string): string {
    return join(this.home, id);
  }

  diffDir(id: string): string {
    return join(this.home, id, 'diff');
  }

  stagingRoot(): string {
    const root = join(this.home, STAGING_DIR);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(this.home, 0o700);
    return root;
  }

  /** The parent's diff, then its lower layers' (nearest first). */
  lowerDirs(parent: string): string[] {
    return this.lowerFor(parent).split(':').map((l) => join(this.home, l));
  }

  leftovers(): string[] {
    return [];
  }

  /**
   * The short link name of a layer. @throws FerryError(E_IO) when its `link` file names anything but a short link
   * name (someone else wrote it: ferry would otherwise remove or mount what it points to, outside the store).
   */
  linkOf(id: string): string {
    const link = readFileSync(join(this.home, id, 'link'), 'utf8').trim();
    if (!LINK_NAME.test(link)) throw new FerryError(ErrorCode.Io, `overlay layer ${id}: its link file holds ${JSON.stringify(link.slice(0, 80))}, not a short link name`);
    return link;
  }

  /**
   * The parents' `l/<link>` entries of a layer's `lower` file, nearest first, each a short link name whose symlink
   * points to a layer's `diff` in this store.
   * @throws FerryError(E_IO) for anything else (a tampered `lower` file or `l/` link would mount or read outside the store).
   */
  private lowersOf(id: string): string[] {
    const lowerFile = join(this.home, id, 'lower');
    if (!existsSync(lowerFile)) return [];
    return this.checkLowers(id, readFileSync(lowerFile, 'utf8').trim().split(':').filter(Boolean));
  }

  /** `lowers` (`l/<link>` entries of layer `id`'s lower dirs) when each is a link to a layer's diff in this store. */
  private checkLowers(id: string, lowers: string[]): string[] {
    for (const l of lowers) {
      let target: string | undefined;
      try {
        target = /^l\/[A-Z0-9]+$/.test(l) && LINK_NAME.test(l.slice(2)) ? readlinkSync(join(this.home, l)) : undefined;
      } catch {
        target = undefined;
      }
      if (target === undefined || !/^\.\.\/[A-Za-z0-9][A-Za-z0-9_.-]*\/diff$/.test(target)) {
        throw new FerryError(ErrorCode.Io, `overlay layer ${id}: its lower layer ${JSON.stringify(l.slice(0, 80))} is not a link to a layer of this store`);
      }
    }
    return lowers;
  }

  /** The `lower` file content for a child of `parent`. */
  lowerFor(parent: string): string {
    return [...this.checkLowers(parent, [`l/${this.linkOf(parent)}`]), ...this.lowersOf(parent)].join(':');
  }

  /**
   * Turns a staging dir (or, with `staging` undefined, nothing: an empty layer) into layer `id`:
   * rename, link file and `l/` symlink, `lower`, `work`, `merged` (and `empty` for base layers).
   * `keepRootMode`: the layer tar set diff/'s mode; otherwise it is the parent's diff mode (0555 at the base).
   */
  finalize(id: string, parent: string | undefined, staging: string | undefined, keepRootMode: boolean): void {
    this.ensureDirs();
    // the parent's lower dirs are checked before anything is made
    const lower = parent !== undefined ? this.lowerFor(parent) : undefined;
    const dir = this.layerDir(id);
    if (staging !== undefined) renameSync(staging, dir);
    else {
      mkdirSync(dir, { mode: 0o700 });
      mkdirSync(join(dir, 'diff'), { mode: 0o755 });
    }
    chmodSync(dir, 0o700);
    if (!keepRootMode) {
      const mode = parent !== undefined ? statSync(this.diffDir(parent)).mode & 0o7777 : 0o555;
      chmodSync(join(dir, 'diff'), mode);
    }
    const link = randomLinkName();
    symlinkSync(`../${id}/diff`, join(this.home, 'l', link));
    writeFileSync(join(dir, 'link'), link, { mode: 0o644 });
    if (lower !== undefined) writeFileSync(join(dir, 'lower'), lower, { mode: 0o644 });
    else mkdirSync(join(dir, 'empty'), { mode: 0o700 });
    mkdirSync(join(dir, 'work'), { mode: 0o700 });
    mkdirSync(join(dir, 'merged'), { mode: 0o700 });
  }

  /** Removes a layer's directory and short link (not what a tampered `link` file names instead). */
  remove(id: string): void {
    try {
      const link = this.linkOf(id);
      rmSync(join(this.home, 'l', link), { force: true });
    } catch {
      /* no link file, or one naming something else: left alone */
    }
    rmSync(this.layerDir(id), { recursive: true, force: true });
  }

  /** The overlay mount options for layer `id` (its diff as upper dir, parents as lower dirs). */
  mountOptions(id: string): { lower: string[]; upper: string; work: string; merged: string } {
    const lowers = this.lowersOf(id);
    return {
      lower: lowers.length > 0 ? lowers.map((l) => join(this.home, l)) : [join(this.home, id, 'empty')],
      upper: this.diffDir(id),
      work: join(this.home, id, 'work'),
      merged: join(this.home, id, 'merged'),
    };
  }
}
