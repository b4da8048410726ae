/**
 * Shell pipelines for the archive-stream tests (docker-archive and oci-archive): the real `bin/ferry` and skopeo
 * connected by real pipes and FIFOs, and a guard for the shared device nodes those tests write through.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { expect } from 'chai';
import { FERRY_BIN } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';

/** `s` quoted for bash. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The real ferry, quoted for bash (quiet: progress would go to stderr anyway). */
export const FERRY = `${q(process.execPath)} ${q(FERRY_BIN)}`;

/** What a pipeline left: the exit status of each of its commands, and stderr. */
export interface PipelineResult {
  statuses: number[];
  stderr: string;
}

/**
 * Runs `script` with bash; its last line must be the pipeline whose statuses (`PIPESTATUS`) are returned.
 * Standard output is reserved for them: redirect the pipeline's output to a file.
 */
export async function pipeline(script: string, env: Record<string, string | undefined> = {}): Promise<PipelineResult> {
  const r = await run('bash', ['-c', `${script}\necho "status: \${PIPESTATUS[*]}"`], { env, timeoutMs: 120_000 });
  const m = /status: ([0-9 ]+)\n$/.exec(r.stdout);
  if (!m) throw new Error(`pipeline did not finish (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr}`);
  return { statuses: m[1]!.trim().split(' ').map(Number), stderr: r.stderr };
}

/** Device nodes the tests write through, as a sane system has them. */
const DEVICES = [
  { path: '/dev/stdout', link: '/proc/self/fd/1' },
  { path: '/dev/stdin', link: '/proc/self/fd/0' },
  { path: '/dev/null', char: [1, 3] as const },
];

/**
 * Asserts that `/dev/stdout`, `/dev/stdin` and `/dev/null` are still what they were; a broken one is put back
 * first (other processes on the machine use them), then the assertion fails.
 */
export function expectDevicesIntact(): void {
  const broken: string[] = [];
  for (const d of DEVICES) {
    const st = lstatSync(d.path, { throwIfNoEntry: false });
    if (d.link !== undefined) {
      if (st?.isSymbolicLink() && readlinkSync(d.path) === d.link) continue;
      broken.push(d.path);
      rmSync(d.path, { force: true, recursive: true });
      symlinkSync(d.link, d.path);
    } else {
      if (st?.isCharacterDevice() && st.rdev === ((d.char![0] << 8) | d.char![1])) continue; // glibc's makedev for small numbers
      broken.push(d.path);
      rmSync(d.path, { force: true, recursive: true });
      execFileSync('mknod', ['-m', '666', d.path, 'c', String(d.char![0]), String(d.char![1])]);
    }
  }
  expect(broken, 'device nodes replaced (now restored)').to.deep.equal([]);
}
