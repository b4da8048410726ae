/**
 * The vfs driver (containers/storage drivers/vfs): every layer is a whole root file system in
 * `vfs/dir/<id>`, a copy of its parent with the layer applied (whiteouts delete, opaque directories
 * drop the parent's contents). No mounts: a layer's directory is its "mount point".
 * Layers are unpacked in `vfs/.ferry-staging/layer-<random>/diff` and merged onto a copy of the parent at commit.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { STAGING_DIR, type LayerDriver, type Whiteouts } from './driver.js';
import { storeNative } from './native.js';

/** A layer being made from a copy of its parent: `dir/<id>` + this (removed by prune if a process was killed). */
const TMP_SUFFIX = '.ferry-tmp';

/** Copies a directory tree preserving everything (reflinks where the file system can). */
function copyTree(src: string, dst: string): void {
  execFileSync('cp', ['-a', '--reflink=auto', src, dst]);
}

function copyXattrs(from: string, to: string): void {
  const n = storeNative();
  for (const name of n.llistxattr(from)) {
    const v = n.lgetxattr(from, name);
    if (v) n.lsetxattr(to, name, v);
  }
}

/** Moves the entries of `src` into `dst` (replacing what is there; directories merge). */
function mergeInto(src: string, dst: string): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    const st = lstatSync(s);
    let dt;
    try {
      dt = lstatSync(d);
    } catch {
      dt = undefined;
    }
    if (st.isDirectory() && dt?.isDirectory()) {
      mergeInto(s, d);
      copyMeta(s, d);
      continue;
    }
    if (dt) rmSync(d, { recursive: true, force: true });
    renameSync(s, d);
  }
}

function copyMeta(from: string, to: string): void {
  const st = lstatSync(from);
  if (process.getuid?.() === 0) lchownSync(to, st.uid, st.gid);
  chmodSync(to, st.mode & 0o7777);
  copyXattrs(from, to);
  lutimesSync(to, st.atime, st.mtime);
}

/**
 * `root/rel` if every component of `rel` is a real directory (lstat: symlinks are never followed), or undefined
 * when one is missing or is not a directory. A symlink there is one the layer replaces by a directory of its own
 * (anything else was refused by whiteout-check.ts): there is nothing below it to delete either.
 */
function realDirBeneath(root: string, rel: string): string | undefined {
  let path = root;
  for (const part of rel === '' ? [] : rel.split('/')) {
    path = join(path, part);
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return undefined;
    }
    if (!st.isDirectory()) return undefined;
  }
  return path;
}

/** Applies recorded whiteouts to `root` (a copy of the parent layer) without following symlinks. */
function applyWhiteouts(root: string, wh: Whiteouts): void {
  for (const o of wh.opaques) {
    const d = realDirBeneath(root, o);
    if (d !== undefined) for (const n of readdirSync(d)) rmSync(join(d, n), { recursive: true, force: true });
  }
  for (const w of wh.whiteouts) {
    const slash = w.lastIndexOf('/');
    const d = realDirBeneath(root, slash === -1 ? '' : w.slice(0, slash));
    // rm looks at the last component with lstat: a symlink is removed, not followed.
    if (d !== undefined) rmSync(join(d, w.slice(slash + 1)), { recursive: true, force: true });
  }
}

/** Paths and operations of one store's vfs directory. */
export class VfsLayout implements LayerDriver {
  readonly name = 'vfs' as const;
  readonly home: string;
  readonly whiteoutMode = 'record' as const;

  constructor(graphRoot: string) {
    this.home = join(graphRoot, 'vfs');
  }

  ensureDirs(): void {
    mkdirSync(join(this.home, 'dir'), { recursive: true, mode: 0o700 });
  }

  stagingRoot(): string {
    const root = join(this.home, STAGING_DIR);
    mkdirSync(root, { recursive: true, mode: 0o700 });
    return root;
  }

  lowerDirs(parent: string): string[] {
    return [this.contentDir(parent)];
  }

  leftovers(): string[] {
    return readdirSync(join(this.home, 'dir')).filter((n) => n.endsWith(TMP_SUFFIX)).map((n) => join(this.home, 'dir', n));
  }

  contentDir(id: string): string {
    return join(this.home, 'dir', id);
  }

  finalize(id: string, parent: string | undefined, staging: string | undefined, keepRootMode: boolean, wh?: Whiteouts): void {
    this.ensureDirs();
    const target = this.contentDir(id);
    const diff = staging !== undefined ? join(staging, 'diff') : undefined;
    try {
      if (parent === undefined) {
        if (diff) renameSync(diff, target);
        else mkdirSync(target, { mode: 0o555 });
        if (!keepRootMode) chmodSync(target, 0o555);
        return;
      }
      // the copy of a parent someone replaced by a symlink would be that symlink, and the layer merged into its target
      if (!lstatSync(this.contentDir(parent)).isDirectory()) throw new FerryError(ErrorCode.Io, `vfs layer ${parent}: ${this.contentDir(parent)} is not a directory`);
      const tmp = `${target}${TMP_SUFFIX}`;
      rmSync(tmp, { recursive: true, force: true });
      copyTree(this.contentDir(parent), tmp);
      try {
        if (wh) applyWhiteouts(tmp, wh);
        if (diff) {
          mergeInto(diff, tmp);
          if (keepRootMode) copyMeta(diff, tmp);
        }
        renameSync(tmp, target);
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        throw e;
      }
    } finally {
      if (staging !== undefined) rmSync(staging, { recursive: true, force: true });
    }
  }

  remove(id: string): void {
    rmSync(this.contentDir(id), { recursive: true, force: true });
  }

  mountPath(id: string): string {
    return this.contentDir(id);
  }

  isMounted(): boolean {
    return false;
  }

  async mount(id: string): Promise<string> {
    return this.contentDir(id);
  }

  async unmount(): Promise<boolean> {
    return false;
  }
}
