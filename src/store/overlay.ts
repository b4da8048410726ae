/**
 * The overlay driver's directory layout (containers/storage drivers/overlay):
 * `overlay/<id>/{diff,link,lower,work,merged}` (+ `empty` for a base layer), short names
 * `overlay/l/<link>` → `../<id>/diff`, `lower` = the parents' short names (`l/A:l/B`, nearest first).
 * Layers are unpacked in `overlay/.ferry-staging/<random>/` (the same mount as the layer directories:
 * containers/storage bind-mounts `overlay/` on itself) and renamed into place when committed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { randomLinkName } from './ids.js';

/** Paths and operations of one store's overlay directory. */
export class OverlayLayout {
  readonly home: string;

  constructor(graphRoot: string) {
    this.home = join(graphRoot, 'overlay');
  }

  layerDir(id: string): string {
    return join(this.home, id);
  }

  diffDir(id: string): string {
    return join(this.home, id, 'diff');
  }

  /** A new staging directory with an empty `diff/`; returns the staging dir. */
  newStaging(): string {
    const root = join(this.home, '.ferry-staging');
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(this.home, 0o700);
    const dir = join(root, randomBytes(16).toString('hex'));
    mkdirSync(dir, { mode: 0o700 });
    mkdirSync(join(dir, 'diff'), { mode: 0o755 });
    return dir;
  }

  /** The short link name of a layer. */
  linkOf(id: string): string {
    return readFileSync(join(this.home, id, 'link'), 'utf8').trim();
  }

  /** The `lower` file content for a child of `parent`. */
  lowerFor(parent: string): string {
    const own = `l/${this.linkOf(parent)}`;
    const lowerFile = join(this.home, parent, 'lower');
    const theirs = existsSync(lowerFile) ? readFileSync(lowerFile, 'utf8').trim() : '';
    return theirs ? `${own}:${theirs}` : own;
  }

  /**
   * Turns a staging dir (or, with `staging` undefined, nothing: an empty layer) into layer `id`:
   * rename, link file and `l/` symlink, `lower`, `work`, `merged` (and `empty` for base layers).
   * `keepRootMode`: the layer tar set diff/'s mode; otherwise it is the parent's diff mode (0555 at the base).
   */
  finalize(id: string, parent: string | undefined, staging: string | undefined, keepRootMode: boolean): void {
    const dir = this.layerDir(id);
    mkdirSync(join(this.home, 'l'), { recursive: true, mode: 0o755 });
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
    if (parent !== undefined) writeFileSync(join(dir, 'lower'), this.lowerFor(parent), { mode: 0o644 });
    else mkdirSync(join(dir, 'empty'), { mode: 0o700 });
    mkdirSync(join(dir, 'work'), { mode: 0o700 });
    mkdirSync(join(dir, 'merged'), { mode: 0o700 });
  }

  /** Removes a layer's directory and short link. */
  remove(id: string): void {
    try {
      const link = this.linkOf(id);
      rmSync(join(this.home, 'l', link), { force: true });
    } catch {
      /* no link file */
    }
    rmSync(this.layerDir(id), { recursive: true, force: true });
  }

  /** The overlay mount options for layer `id` (its diff as upper dir, parents as lower dirs). */
  mountOptions(id: string): { lower: string[]; upper: string; work: string; merged: string } {
    const lowerFile = join(this.home, id, 'lower');
    const lowers = existsSync(lowerFile) ? readFileSync(lowerFile, 'utf8').trim().split(':').filter(Boolean) : [];
    return {
      lower: lowers.length > 0 ? lowers.map((l) => join(this.home, l)) : [join(this.home, id, 'empty')],
      upper: this.diffDir(id),
      work: join(this.home, id, 'work'),
      merged: join(this.home, id, 'merged'),
    };
  }
}
