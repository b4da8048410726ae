import type { CliIo } from './io.js';
import { FerryError, ErrorCode } from '../errors.js';

/** Reads all of stdin as text (for `--password-stdin`), without the trailing newline. */
export async function readAllStdin(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Asks a question on the terminal (stderr), reading the answer from stdin; `secret` turns echo off.
 * Fails with E_USAGE when stdin is not a terminal, naming the flag to use instead.
 */
export async function ask(io: CliIo, question: string, opts: { secret?: boolean; flag: string }): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY) {
    throw new FerryError(ErrorCode.Usage, `${question.replace(/:\s*$/, '').toLowerCase()} is required and stdin is not a terminal: use ${opts.flag}`);
  }
  io.stderr.write(question);
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: stdin, output: opts.secret ? undefined : io.stderr, terminal: !opts.secret });
  if (opts.secret) stdin.setRawMode?.(false);
  try {
    return await new Promise<string>((resolve) => rl.once('line', resolve));
  } finally {
    rl.close();
    if (opts.secret) io.stderr.write('\n');
  }
}
