import type { Readable, Writable } from 'node:stream';

/** The process streams a command uses; the in-process test harness passes its own. */
export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/**
 * The process's own streams. Node makes each of them on first use (a stream object of the kind the file descriptor
 * is: terminal, pipe, file), so they are taken only when a command uses them: most never read stdin.
 */
export function processIo(): CliIo {
  return {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
}

/** Writes `text` and resolves once it is flushed (so the exit status never cuts output short). */
export function write(stream: Writable, text: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(text, (err) => (err ? reject(err) : resolve()));
  });
}
