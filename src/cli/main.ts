import { setMaxListeners } from 'node:events';
import type { Argv } from 'yargs';
import type { CommandSpec, CliContext } from './command.js';
import { processIo, write, type CliIo } from './io.js';
import { describeError } from './exit.js';
import { VERSION } from '../version.js';
import { redactCredentials } from '../util/redact.js';
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
  'untrusted-signature-dump-without-verification': {
    describe: 'Dump contents of a signature WITHOUT VERIFYING IT',
    load: () => import('./commands/untrusted-signature-dump-without-verification.js'),
  },
  'verify-archive': { describe: 'Check every blob and manifest of an image archive before importing it', load: () => import('./commands/verify-archive.js') },
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
    .option('command-timeout', { type: 'string', describe: 'timeout for the command execution (e.g. 30s)', requiresArg: true, global: true })
    .option('tmpdir', { type: 'string', describe: 'directory used to store temporary files (default $TMPDIR, else /tmp)', requiresArg: true, global: true })
    .option('policy', { type: 'string', describe: 'trust policy file for copy and sync (default ~/.config/containers/policy.json, then /etc/containers/policy.json)', requiresArg: true, global: true })
    .option('insecure-policy', { type: 'boolean', describe: 'accept any image, without reading a trust policy (copy and sync)', global: true });
}

/** What `ferry --version` prints: skopeo's form (`skopeo version 1.9.3`), so scripts that take the third word work. */
export const VERSION_LINE = `ferry version ${VERSION}`;

/**
 * `ferry help [COMMAND]` as skopeo (cobra) has it: the same as `ferry [COMMAND] --help`. Global flags before `help`
 * are kept; anything else is the command's business (so `ferry copy help` still names an image).
 */
export function rewriteHelpCommand(argv: readonly string[]): string[] {
  // the first word that is neither a flag nor the value of a global flag (`--tmpdir help` names a directory)
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) i += VALUE_FLAGS.has(argv[i]!) ? 2 : 1;
  if (argv[i] !== 'help') return [...argv];
  return [...argv.slice(0, i), ...argv.slice(i + 1), '--help'];
}

/** Global flags that take a value as the next word. */
const VALUE_FLAGS = new Set(['--registries-conf', '--override-arch', '--override-os', '--override-variant', '--command-timeout', '--tmpdir', '--policy', '--registries.d']);

/**
 * Runs ferry with `argv` (without `node` and the script) and resolves to the exit status.
 * Everything the command prints goes through `io`, so tests can run commands in-process.
 */
export async function run(argvIn: string[], io: CliIo = processIo()): Promise<number> {
  const argv = rewriteHelpCommand(argvIn);
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
  /** `--command-timeout`'s value, once the command ran out of it. */
  let timedOut: string | undefined;
  const cli: CliContext = { io, signal: controller.signal, debug };

  const wanted = argv.find((a): a is CommandName => Object.hasOwn(COMMANDS, a));
  const spec = wanted !== undefined ? (await COMMANDS[wanted].load()).default : undefined;

  let y = globalOptions(yargs(argv))
    .scriptName('ferry')
    .usage('$0 [global options] COMMAND [options]\n\nInspect, copy, sync, delete and sign container images across transports, without a daemon.')
    .epilog('Use "ferry help COMMAND" or "ferry COMMAND --help" for more information about a command.')
    .parserConfiguration({ 'boolean-negation': false, 'camel-case-expansion': false, 'dot-notation': false })
    .version('version', 'print the version and exit', VERSION_LINE)
    .alias('v', 'version')
    .help()
    .alias('h', 'help')
    .strict()
    .demandCommand(1, 'a command is required; see ferry --help')
    .recommendCommands()
    // wide enough for untrusted-signature-dump-without-verification in the command list (yargs gives names half the width)
    .wrap(Math.min(110, (io.stdout as { columns?: number }).columns ?? 110))
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
          timer = setTimeout(() => {
            timedOut = timeout;
            controller.abort(new Error(`command timed out after ${timeout}`));
          }, ms);
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
      await write(io.stderr, `Error: ${redactCredentials(failed.message)}\nSee 'ferry --help'.\n`);
      return 1;
    }
    if (interrupted !== undefined) {
      await write(io.stderr, debug ? `${describeError(failed, true).message}\nError: interrupted\n` : 'Error: interrupted\n');
      return interrupted === 'SIGINT' ? 130 : 143;
    }
    const { message, status: code } = describeError(failed, debug, { timedOut });
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
