/**
 * Creating a directory and its missing parents, like `mkdir -p`. Node's own `mkdir(path, {recursive: true})`
 * spins forever, at 100 % CPU, on file systems that answer ENOENT for a directory that cannot be created in an
 * existing parent (`/proc/nope`); this one creates one level at a time and fails on such an answer.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Creates `path` and its missing parents (with `opts.mode`, minus the umask; default 0o777).
 * @returns the outermost directory created (absolute), or undefined when `path` already was a directory.
 * @throws the file system's error (ENOENT when a level cannot be created although its parent exists, ENOTDIR,
 *   EACCES, …), with `path` on it.
 */
export async function makeDirs(path: string, opts: { mode?: number } = {}): Promise<string | undefined> {
  const target = resolve(path);
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
  let first: string | undefined;
  for (const p of missing.reverse()) {
    try {
      await mkdir(p, opts.mode);
      first ??= p;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await stat(p)).isDirectory()) throw e;
    }
  }
  return first;
}
