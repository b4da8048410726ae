/**
 * The vfs driver (containers/storage drivers/vfs): every layer is a whole root file system in
 * `vfs/dir/<id>`, a copy of its parent with the layer applied (whiteouts delete, opaque directories
 * drop the parent's contents). No mounts: a layer's directory is its "mount point".
 * Layers are unpacked in `vfs/.ferry-staging/<random>/diff` and merged onto a copy of the parent at commit.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LayerDriver, Whiteouts } from './driver.js';
import { storeNative } from './native.js';

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

  newStaging(): string {
    const root = join(this.home, '.ferry-staging');
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const dir = join(root, randomBytes(16).toString('hex'));
    mkdirSync(dir, { mode: 0o700 });
    mkdirSync(join(dir, 'diff'), { mode: 0o755 });
    return dir;
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
      const tmp = `${target}.ferry-tmp`;
      rmSync(tmp, { recursive: true, force: true });
      copyTree(this.contentDir(parent), tmp);
      for (const o of wh?.opaques ?? []) {
        const d = o === '' ? tmp : join(tmp, o);
        if (existsSync(d) && statSync(d).isDirectory()) for (const n of readdirSync(d)) rmSync(join(d, n), { recursive: true, force: true });
      }
      for (const w of wh?.whiteouts ?? []) rmSync(join(tmp, w), { recursive: true, force: true });
      if (diff) {
        mergeInto(diff, tmp);
        if (keepRootMode) copyMeta(diff, tmp);
      }
      renameSync(tmp, target);
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
