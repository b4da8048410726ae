/**
 * Creating a directory and its missing parents, like `mkdir -p`. Node's own `mkdir(path, {recursive: true})`
 * spins forever, at 100 % CPU, on file systems that answer ENOENT for a directory that cannot be created in an
 * existing parent (`/proc/nope`); this one creates one level at a time and fails on such an answer.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** How often the walk starts over when a level vanished while it was being created (another process removed it). */
const ATTEMPTS = 3;

/**
 * Creates `path` and its missing parents (with `opts.mode`, minus the umask; default 0o777). A level another process
 * removes meanwhile (an empty directory it cleans up) is created again: the walk starts over, a bounded number of times.
 * @returns the outermost directory created (absolute), or undefined when `path` already was a directory.
 * @throws the file system's error (ENOENT when a level cannot be created although its parent exists, ENOTDIR,
 *   EACCES, …), with `path` on it.
 */
export async function makeDirs(path: string, opts: { mode?: number } = {}): Promise<string | undefined> {
  let outermost: string | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      await makeDirsOnce(resolve(path), opts.mode, (p) => {
        if (outermost === undefined || p.length < outermost.length) outermost = p;
      });
      return outermost;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= ATTEMPTS) throw e;
    }
  }
}

/** One walk of {@link makeDirs}: `created` is told every level it created. */
async function makeDirsOnce(target: string, mode: number | undefined, created: (p: string) => void): Promise<void> {
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    const st = await stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (st !== undefined) {
      if (!st.isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p, mode);
      created(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(p)).isDirectory()) throw e;
    }
  }
}
