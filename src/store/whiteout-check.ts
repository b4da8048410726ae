/**
 * Whiteouts reach into the layers below: `a/b/.wh.c` deletes `a/b/c` of the parent's file system, and
 * `a/.wh..wh..opq` hides what the parent has under `a`. A hostile lower layer can make `a` a symlink (to `/`,
 * or `../../..`): a driver that applies whiteouts to a copy of the parent (vfs) would then delete outside the
 * store, and an overlay mount would silently replace the link by a directory. So before a layer is committed,
 * every directory its whiteouts and opaque directories go through is looked up in the lower layers, one
 * component at a time with lstat (never following a symlink), in overlayfs's order: the nearest layer that
 * has the name decides; a whiteout device hides the layers below; an opaque directory stops the lookup there.
 * Going through a symlink is refused (E_HOSTILE_ARCHIVE); a path that does not exist below deletes nothing.
 */
import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import type { Whiteouts } from './driver.js';
import { storeNative } from './native.js';

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

const isWhiteoutDevice = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

function isOpaque(path: string): boolean {
  return storeNative().lgetxattr(path, 'trusted.overlay.opaque')?.toString() === 'y';
}

/**
 * The symlink that path `parents` (components) goes through in the merged view of `lowers` (layer roots, nearest
 * first), as a relative path; undefined when every component is a directory, or the path ends before that, or
 * the layer replaces the symlink by a directory of its own (one of `ownDirs`).
 */
function symlinkOnTheWay(lowers: readonly string[], parents: readonly string[], ownDirs: ReadonlySet<string>): string | undefined {
  let candidates = [...lowers];
  for (let i = 0; i < parents.length; i++) {
    const rel = parents.slice(0, i + 1).join('/');
    const next: string[] = [];
    for (const root of candidates) {
      const st = lstatOrUndefined(join(root, rel));
      if (st === undefined) continue;
      if (isWhiteoutDevice(st)) break;
      if (st.isDirectory()) {
        next.push(root);
        if (candidates.length > 1 && isOpaque(join(root, rel))) break;
        continue;
      }
      // A non-directory: it hides the layers below. If it is the nearest entry, the path goes through it.
      if (next.length === 0 && st.isSymbolicLink() && !ownDirs.has(rel)) return rel;
      break;
    }
    if (next.length === 0) return undefined;
    candidates = next;
  }
  return undefined;
}

/** Whether `path` is strictly under one of `dirs` (or, with '' in `dirs`, anything but the root). */
function under(path: string, dirs: ReadonlySet<string>): boolean {
  const parts = path.split('/');
  for (let i = 0; i < parts.length; i++) if (dirs.has(parts.slice(0, i).join('/'))) return true;
  return false;
}

/**
 * Checks that the whiteouts and opaque directories of layer `layer` (named in errors) reach into `lowers`
 * (the parent's layer roots, nearest first) only through directories: the parents of a whiteout, an opaque
 * directory and its parents. Paths under a directory the same layer makes opaque or deletes do not reach below
 * and are not checked; nor does a path beyond a lower symlink the layer replaces by a directory entry of its own
 * (`rm link; mkdir link` in a container gives an opaque directory where a lower layer has a symlink).
 * @throws FerryError(E_HOSTILE_ARCHIVE)
 */
export function checkWhiteoutsBeneath(lowers: readonly string[], wh: Whiteouts, layer: string): void {
  const opaque = new Set(wh.opaques);
  const deleted = new Set(wh.whiteouts);
  const own = new Set(wh.dirs);
  const check = (path: string, what: string, components: string[]) => {
    if (path === '' || under(path, opaque) || under(path, deleted)) return;
    const link = symlinkOnTheWay(lowers, components, own);
    if (link !== undefined) {
      throw new FerryError(ErrorCode.HostileArchive, `refusing layer ${layer}: the ${what} "${path}" goes through "${link}", a symlink in a lower layer`);
    }
  };
  for (const o of wh.opaques) check(o, 'opaque directory', o.split('/'));
  for (const w of wh.whiteouts) check(w, 'whiteout of', w.split('/').slice(0, -1));
}
