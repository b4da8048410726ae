/** Running external commands (skopeo, openssl, htpasswd, …) from tests, capturing their output. */
import { spawn } from 'node:child_process';

/** Options of {@link run}. */
export interface RunOptions {
  /** Extra environment variables, merged over `process.env` (set a value to `undefined` to remove it). */
  env?: Record<string, string | undefined>;
  /** Written to the command's standard input, which is then closed. Without it stdin is empty. */
  input?: string | Buffer;
  /** Kill the command (SIGKILL) after this many milliseconds; the result then has `timedOut: true`. Default 120 000. */
  timeoutMs?: number;
  /** Working directory. */
  cwd?: string;
  /** Aborting kills the command. */
  signal?: AbortSignal;
}

/** What a finished command left behind. */
export interface RunResult {
  /** Exit status, or null when killed by a signal. */
  code: number | null;
  /** The signal that killed the command, if any. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Raw standard output (for binary output). */
  stdoutBytes: Buffer;
  /** Whether the command was killed because it exceeded `timeoutMs`. */
  timedOut: boolean;
}

/**
 * Runs `cmd args…` without a shell and resolves when it exits (never rejects for a non-zero status;
 * rejects only when the command cannot be started).
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(cmd, [...args], { cwd: opts.cwd, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    const onAbort = () => child.kill('SIGKILL');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // EPIPE when the command does not read its input
    child.on('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), stdoutBytes, timedOut });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like {@link run} but rejects (with stderr in the message) unless the command exits 0. */
export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : r.code === null ? `killed by ${r.signal}` : `exited ${r.code}`;
    throw new Error(`${cmd} ${args[0] ?? ''} ${why}: ${r.stderr.trim().slice(-2000)}`);
  }
  return r;
}
