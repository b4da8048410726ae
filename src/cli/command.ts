import type { Argv } from 'yargs';
import type { CliIo } from './io.js';

/** What every command handler receives besides its parsed arguments. */
export interface CliContext {
  io: CliIo;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM. */
  signal: AbortSignal;
  debug: boolean;
}

/** Runs a command: returns the exit status (default 0); throws FerryError for failures. */
export type CommandHandler = (args: Record<string, unknown>, cli: CliContext) => Promise<number | void>;

/** Turns a subcommand's handler into the yargs handler that runs it as the CLI runs commands (status, timeout). */
export type RunHandler = (handler: CommandHandler) => (args: Record<string, unknown>) => Promise<void>;

/** One CLI command, one file in `cli/commands/`. */
export interface CommandSpec {
  /** yargs command string, e.g. `inspect IMAGE-NAME`. */
  command: string;
  describe: string;
  /**
   * Declares the command's positionals and options. A command with subcommands declares them here, each with its
   * handler wrapped by `run` (absent when the CLI only completes words and runs nothing).
   */
  builder: (y: Argv, run?: RunHandler) => Argv;
  /** True when the builder declares subcommands (the CLI then runs the command as a named yargs command). */
  hasSubcommands?: boolean;
  /** Runs the command (for a command with subcommands: when the words name none of them). */
  handler: CommandHandler;
}
