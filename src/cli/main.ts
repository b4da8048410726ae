import { setMaxListeners } from 'node:events';
import type { Argv } from 'yargs';
import type { CommandSpec, CliContext } from './command.js';
import { processIo, write, type CliIo } from './io.js';
import { describeError } from './exit.js';
import { VERSION } from '../version.js';
import type { CommandName } from './command-names.js';

/** The command list: loaded lazily so start-up only pays for the command that runs. */
const COMMANDS: Record<CommandName, { describe: string; load: () => Promise<{ default: CommandSpec }> }> = {
  copy: { describe: 'Copy an IMAGE-NAME from one location to another', load: () => import('./commands/copy.js') },
  delete: { describe: 'Delete image IMAGE-NAME', load: () => import('./commands/delete.js') },
  'generate-sigstore-key': { describe: 'Generate a sigstore public/private key pair', load: () => import('./commands/generate-sigstore-key.js') },
  inspect: { describe: 'Inspect image IMAGE-NAME', load: () => import('./commands/inspect.js') },
  'list-tags': { describe: 'List tags in the transport/repository specified by the SOURCE-IMAGE', load: () => import('./commands/list-tags.js') },
  'manifest-digest': { describe: 'Compute a manifest digest of a file', load: () => import('./commands/manifest-digest.js') },
  login: { describe: 'Login to a container registry', load: () => import('./commands/login.js') },
  logout: { describe: 'Logout of a container registry', load: () => import('./commands/logout.js') },
  'standalone-sign': { describe: 'Create a signature using local files', load: () => import('./commands/standalone-sign.js') },
  'standalone-verify': { describe: 'Verify a signature using local files', load: () => import('./commands/standalone-verify.js') },
  sync: { describe: 'Synchronize one or more images from one location to another', load: () => import('./commands/sync.js') },
  store: { describe: 'Manage the local image store (containers/storage format, shared with podman and skopeo)', load: () => import('./commands/store.js') },
};

/** Global flags (before or after the command name). */
function globalOptions(y: Argv): Argv {
  return y
    .option('debug', { type: 'boolean', describe: 'enable debug output (error codes and causes)', global: true })
    .option('registries-conf', { type: 'string', describe: 'use registries.conf at PATH', requiresArg: true, global: true })
    .option('registries.d', { type: 'string', describe: 'use registries configuration files in DIR (signature storage, e.g. lookaside)', requiresArg: true, global: true })
    .option('override-arch', { type: 'string', describe: 'use ARCH instead of the architecture of the machine for choosing images', requiresArg: true, global: true })
    .option('override-os', { type: 'string', describe: 'use OS instead of the running OS for choosing images', requiresArg: true, global: true })
    .option('override-variant', { type: 'string', describe: 'use VARIANT instead of the running architecture variant for choosing images', requiresArg: true, global: true })
    .option('command-timeout', { type: 'string', describe: 'timeout for the command execution (e.g. 30s)', requiresArg: true, global: true });
}

/**
 * Runs ferry with `argv` (without `node` and the script) and resolves to the exit status.
 * Everything the command prints goes through `io`, so tests can run commands in-process.
 */
export async function run(argv: string[], io: CliIo = processIo()): Promise<number> {
  const { default: yargs } = await import('yargs');
  const controller = new AbortController();
  // every blob stream of a parallel copy listens on this one signal: more than Node's default of 10
  setMaxListeners(0, controller.signal);
  /** The signal that interrupted the command: it then fails with `Error: interrupted` and 128 + the signal number. */
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    interrupted = sig;
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  const isProcess = io.stdout === process.stdout;
  if (isProcess) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const debug = argv.includes('--debug');
  let status = 0;
  let failed: unknown;
  const cli: CliContext = { io, signal: controller.signal, debug };

  const wanted = argv.find((a): a is CommandName => Object.hasOwn(COMMANDS, a));
  const spec = wanted !== undefined ? (await COMMANDS[wanted].load()).default : undefined;

  let y = globalOptions(yargs(argv))
    .scriptName('ferry')
    .usage('$0 [global options] COMMAND [options]\n\nInspect, copy, sync, delete and sign container images across transports, without a daemon.')
    .parserConfiguration({ 'boolean-negation': false, 'camel-case-expansion': false, 'dot-notation': false })
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .strict()
    .demandCommand(1, 'a command is required; see ferry --help')
    .recommendCommands()
    .wrap(Math.min(100, (io.stdout as { columns?: number }).columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      failed = err ?? new UsageError(msg);
    });
  skipHelpCache(y);
  for (const [name, entry] of Object.entries(COMMANDS)) {
    if (spec && name === wanted) {
      y = y.command(spec.command, spec.describe, (b) => spec.builder(b), async (args) => {
        // yargs still calls the handler after reporting a validation failure through .fail(): never run it then
        if (failed !== undefined) return;
        const timeout = args['command-timeout'] as string | undefined;
        let timer: NodeJS.Timeout | undefined;
        if (timeout) {
          const { parseDuration } = await import('./options/duration.js');
          const ms = parseDuration(timeout, '--command-timeout');
          timer = setTimeout(() => controller.abort(new Error(`command timed out after ${timeout}`)), ms);
          timer.unref();
        }
        try {
          status = (await spec.handler(args as Record<string, unknown>, cli)) ?? 0;
        } finally {
          clearTimeout(timer);
        }
      });
    } else {
      y = y.command(name, entry.describe);
    }
  }
  try {
    let helpOut = '';
    await y.parseAsync(argv, {}, (err, _argv, output) => {
      if (!err && output) helpOut = output;
    });
    if (helpOut) await write(io.stdout, helpOut.endsWith('\n') ? helpOut : helpOut + '\n');
  } catch (e) {
    failed ??= e;
  } finally {
    if (isProcess) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
  if (failed !== undefined) {
    if (failed instanceof UsageError) {
      await write(io.stderr, `Error: ${failed.message}\nSee 'ferry --help'.\n`);
      return 1;
    }
    if (interrupted !== undefined) {
      await write(io.stderr, debug ? `${describeError(failed, true).message}\nError: interrupted\n` : 'Error: interrupted\n');
      return interrupted === 'SIGINT' ? 130 : 143;
    }
    const { message, status: code } = describeError(failed, debug);
    await write(io.stderr, message + '\n');
    return code;
  }
  return status;
}

class UsageError extends Error {}

/**
 * yargs renders the whole help text of a command just before running its handler, only to have it ready in case the
 * handler fails later and yargs shows help on failure. ferry reports handler errors itself (`.fail()` above, no help),
 * so that rendering (10-25 ms of every command) is wasted: turn it off. `--help` renders help as before. Uses yargs'
 * internal methods; if they change, this does nothing.
 */
function skipHelpCache(y: Argv): void {
  type Usage = { cacheHelpMessage?: () => void };
  const internal = (y as unknown as { getInternalMethods?: () => { getUsageInstance?: () => Usage } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}
