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

/** Runs ferry in-process (like skopeo's main_test.go), capturing stdout and stderr. */
export async function ferry(args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  const stdin = Readable.from(opts.stdin !== undefined ? [Buffer.from(opts.stdin)] : []);
  const code = await run(args, { stdout, stderr, stdin, env: { ...process.env, ...opts.env } });
  const stdoutBytes = out();
  return { code, stdout: stdoutBytes.toString('utf8'), stderr: err().toString('utf8'), stdoutBytes };
}

/** Runs the real `bin/ferry` (compiled lib/) as a child process. */
export async function ferryProcess(args: string[], opts: { stdin?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliResult> {
  const r = await runProcess(process.execPath, [FERRY_BIN, ...args], { input: opts.stdin, env: opts.env, timeoutMs: opts.timeoutMs });
  return { ...r, code: r.code ?? 128 };
}
