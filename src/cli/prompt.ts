import type { CliIo } from './io.js';
import { FerryError, ErrorCode } from '../errors.js';
import { readBoundedStream } from '../util/bounded-read.js';

/**
 * Reads all of stdin as text (for `--password-stdin`), without the trailing newline: at most `bound.limit` bytes.
 * @throws FerryError(E_TOO_LARGE) naming `bound.what` for more.
 */
export async function readAllStdin(io: CliIo, bound: { what: string; limit: number }): Promise<string> {
  return (await readBoundedStream(io.stdin, bound)).toString('utf8').replace(/\r?\n$/, '');
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
  if (opts.secret) return readSecret(stdin, io);
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: stdin, output: io.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.once('line', resolve));
  } finally {
    rl.close();
  }
}

/** Reads one line in raw mode without echoing it (backspace edits, Ctrl-C/Ctrl-D abort). */
function readSecret(stdin: NodeJS.ReadStream, io: CliIo): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    stdin.setRawMode(true);
    stdin.resume();
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new FerryError(ErrorCode.Aborted, 'login aborted'));
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    stdin.on('data', onData);
  });
}
