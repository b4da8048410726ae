import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { run } from '../../src/cli/main.js';
import { run as runProcess } from './procs.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as raw bytes (for byte-exact comparisons). */
  stdoutBytes: Buffer;
}

/** Repository root (…/ferry), from .build/test/harness. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const FERRY_BIN = path.join(ROOT, 'bin', 'ferry');

function collect(stream: PassThrough): () => Buffer {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks);
}

/**
 * `args` with the test suite's accept-anything policy (`--policy`, written by test/setup.ts) in front, unless they
 * name a policy themselves: tests never depend on the machine's policy.json.
 */
export function withTestPolicy(args: string[]): string[] {
  const own = args.some((a) => a === '--insecure-policy' || a === '--policy' || a.startsWith('--policy=') || a.startsWith('--insecure-policy='));
  const policy = process.env['FERRY_TEST_POLICY'];
  return own || policy === undefined ? args : ['--policy', policy, ...args];
}

/** Runs ferry in-process (like skopeo's main_test.go), capturing stdout and stderr, with the test policy ({@link withTestPolicy}). */
export async function ferry(args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  const stdin = Readable.from(opts.stdin !== undefined ? [Buffer.from(opts.stdin)] : []);
  const code = await run(withTestPolicy(args), { stdout, stderr, stdin, env: { ...process.env, ...opts.env } });
  const stdoutBytes = out();
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: err().toString('utf8'), stdoutBytes };
}

/** Runs the real `bin/ferry` (compiled lib/) as a child process, with the test policy ({@link withTestPolicy}). */
export async function ferryProcess(args: string[], opts: { stdin?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliResult> {
  const r = await runProcess(process.execPath, [FERRY_BIN, ...withTestPolicy(args)], { input: opts.stdin, env: opts.env, timeoutMs: opts.timeoutMs });
  return { ...r, code: r.code ?? 128 };
}
