import type { Argv } from 'yargs';
import type { CliIo } from './io.js';

/** What every command handler receives besides its parsed arguments. */
export interface CliContext {
  io: CliIo;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  debug: boolean;
}

/** One CLI command, one file in `cli/commands/`. */
export interface CommandSpec {
  /** yargs command string, e.g. `inspect IMAGE-NAME`. */
  command: string;
  describe: string;
  builder: (y: Argv) => Argv;
  /** Returns the exit status (default 0); throws FerryError for failures. */
  handler: (args: Record<string, unknown>, cli: CliContext) => Promise<number | void>;
}
