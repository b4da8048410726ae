/** Test helpers for stores: temp stores, cleanup that unmounts what podman/skopeo/ferry mounted. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether the tests run as root (overlay mounts, devices, whiteouts need it). */
export const isRoot = process.getuid?.() === 0;

/** Whether a command is installed. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A fresh directory holding graph root `G` and run root `R`. */
export function tempStore(prefix = 'ferry-store-'): { dir: string; G: string; R: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, G: join(dir, 'G'), R: join(dir, 'R') };
}

/** Unmounts every mount under `dir` (deepest first; containers/storage bind-mounts overlay/ on itself), then removes it. */
export function removeStore(dir: string): void {
  if (!existsSync(dir)) return;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** podman on a private store, with the flags this machine needs. */
export function podmanArgs(G: string, R: string, ...args: string[]): string[] {
  return ['--root', G, '--runroot', R, '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args];
}

/**
 * Everything under `dir` that a store operation could change, one sorted line per entry (path, type, mode, owner,
 * content digest or link target or device number); lock files by name only (releasing a write lock records a
 * new write in them). Directory times are left out.
 */
export function treeSnapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const p = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(p);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : st.isFile() ? 'file' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
    let what = '';
    if (st.isSymbolicLink()) what = readlinkSync(p);
    else if (st.isFile() && !rel.endsWith('.lock')) what = createHash('sha256').update(readFileSync(p)).digest('hex');
    else if (kind === 'char' || kind === 'block') what = String(st.rdev);
    out.push(`${rel || '.'} ${kind} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`);
    if (st.isDirectory()) for (const n of readdirSync(p).sort()) walk(rel === '' ? n : `${rel}/${n}`);
  };
  if (existsSync(dir)) walk('');
  return out;
}
