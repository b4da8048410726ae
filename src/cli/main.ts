import { setMaxListeners } from 'node:events';
import type { Argv } from 'yargs';
import type { CommandSpec, CliContext, RunHandler } from './command.js';
import { processIo, write, type CliIo } from './io.js';
import { describeError } from './exit.js';
import { VERSION } from '../version.js';
import { redactCredentials } from '../util/redact.js';
import type { CommandName } from './command-names.js';
import { wantsUserNamespace } from '../store/wants-userns.js';
import { closest } from '../util/suggest.js';

/** The command list: loaded lazily so start-up only pays for the command that runs. */
const COMMANDS: Record<CommandName, { describe: string; load: () => Promise<{ default: CommandSpec }> }> = {
  completion: { describe: 'Print the shell completion script for bash, zsh or fish', load: () => import('./commands/completion.js') },
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

/**
 * How yargs reads the words, as skopeo's (pflag's) command line does: no `--no-FLAG` negation, names as written, and a
 * flag that takes a value takes the next word whatever it looks like (`--append-suffix -x`, `--format --help`), as
 * pflag does; without a next word it is a usage error. Boolean flags are not affected.
 */
const PARSER_CONFIG = { 'boolean-negation': false, 'camel-case-expansion': false, 'dot-notation': false, 'nargs-eats-options': true } as const;

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

/** Global flags that only some commands use (the others accept them, as skopeo does, but do not list them). */
type ScopedGlobal = 'registries-conf' | 'registries.d' | 'override-arch' | 'override-os' | 'override-variant' | 'tmpdir' | 'policy' | 'insecure-policy';
const ALL_SCOPED: readonly ScopedGlobal[] = ['registries-conf', 'registries.d', 'override-arch', 'override-os', 'override-variant', 'tmpdir', 'policy', 'insecure-policy'];
const OVERRIDES: readonly ScopedGlobal[] = ['override-arch', 'override-os', 'override-variant'];

/** The scoped global flags each command uses; its help lists only these (and --debug, --command-timeout, --help). */
const GLOBALS_USED: Record<CommandName, readonly ScopedGlobal[]> = {
  completion: [],
  copy: ALL_SCOPED,
  delete: ['registries-conf', 'registries.d', 'tmpdir'],
  'generate-sigstore-key': [],
  inspect: ['registries-conf', ...OVERRIDES, 'tmpdir'],
  'list-tags': ['registries-conf', 'tmpdir'],
  'manifest-digest': [],
  login: ['registries-conf'],
  logout: ['registries-conf'],
  'standalone-sign': [],
  'standalone-verify': [],
  store: [],
  sync: ALL_SCOPED,
  'untrusted-signature-dump-without-verification': [],
  'verify-archive': ['tmpdir'],
};

/** Hides, in `name`'s help, the global flags it does not use. */
function hideUnusedGlobals(y: Argv, name: CommandName): Argv {
  const used = new Set(GLOBALS_USED[name]);
  for (const g of ALL_SCOPED) if (!used.has(g)) y = y.hide(g);
  return y;
}

/** What `ferry --version` prints: skopeo's form (`skopeo version 1.9.3`), so scripts that take the third word work. */
export const VERSION_LINE = `ferry version ${VERSION}`;

/** Where the command name stands in `argv`: the first word that is neither a flag nor the value of a global flag. */
function commandIndex(argv: readonly string[]): number {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) i += VALUE_FLAGS.has(argv[i]!) ? 2 : 1;
  return i;
}

/**
 * skopeo's (cobra's) global command line, in yargs' terms: `ferry help [COMMAND]` is `ferry [COMMAND] --help`, and
 * `-v` before the command is `--version` (after it, `-v` is the command's own flag: `login -v` is `--verbose`).
 * Anything after the command name is the command's business (so `ferry copy help` still names an image, and
 * `--tmpdir help` names a directory).
 */
export function rewriteGlobalWords(argv: readonly string[]): string[] {
  const i = commandIndex(argv);
  const globals = argv.slice(0, i).map((a, k) => (a === '-v' && !VALUE_FLAGS.has(argv[k - 1] ?? '') ? '--version' : a));
  if (argv[i] !== 'help') return [...globals, ...argv.slice(i)];
  return [...globals, ...argv.slice(i + 1), '--help'];
}

/** The words that make yargs print instead of run: they go through the named commands, whose help yargs knows. */
const HELP_OR_VERSION = new Set(['--help', '-h', '--version']);

/** Global flags that take a value as the next word. */
const VALUE_FLAGS = new Set(['--registries-conf', '--override-arch', '--override-os', '--override-variant', '--command-timeout', '--tmpdir', '--policy', '--registries.d']);

/**
 * Runs ferry with `argv` (without `node` and the script) and resolves to the exit status.
 * Everything the command prints goes through `io`, so tests can run commands in-process.
 */
export async function run(argvIn: string[], io: CliIo = processIo()): Promise<number> {
  if (argvIn[0] === COMPLETION_KEY) return complete(argvIn.slice(1), io);
  const argv = rewriteGlobalWords(argvIn);
  if (io.stdout === process.stdout && process.getuid?.() !== 0) {
    // A non-root user's store lives in rootless podman's user namespace (store/userns.ts): run the command there.
    const command = argv.find((a) => Object.hasOwn(COMMANDS, a)) ?? '';
    if (wantsUserNamespace(command, argv, io.env)) {
      const userns = await import('../store/userns.js');
      try {
        return await userns.runInUserNamespace([process.execPath, ...process.execArgv, process.argv[1]!, ...argvIn], io.env);
      } catch (e) {
        await write(io.stderr, `Error: ${(e as Error).message}\n`);
        return 1;
      }
    }
  }
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

  const at = commandIndex(argv);
  const wanted = Object.hasOwn(COMMANDS, argv[at] ?? '') ? (argv[at] as CommandName) : argv.find((a): a is CommandName => Object.hasOwn(COMMANDS, a));
  const spec = wanted !== undefined ? (await COMMANDS[wanted].load()).default : undefined;
  // A command that runs is parsed as yargs' default command (its name taken out of the words): yargs then checks
  // its options and arguments alike but does not lay out the command's whole help text, which it does before running
  // a named command's handler in case the handler fails (it never prints it: failures go through .fail below). Help,
  // the version, a command with subcommands and words with no command go through the command list as named commands.
  const runsAsDefault = spec !== undefined && argv[at] === wanted && !spec.hasSubcommands && !argv.some((a) => HELP_OR_VERSION.has(a));
  const word = argv[at];
  if (word !== undefined && !Object.hasOwn(COMMANDS, word) && !argv.some((a) => HELP_OR_VERSION.has(a))) {
    // a mistyped command (`ferry inspct IMAGE`): say so, rather than list every word as an unknown argument
    const near = closest(word, Object.keys(COMMANDS));
    await write(io.stderr, `Error: ${redactCredentials(`unknown command "${word}" for "ferry"`)}${near !== undefined ? `; did you mean "${near}"?` : ''}\nSee 'ferry --help'.\n`);
    return 1;
  }

  const words = runsAsDefault ? [...argv.slice(0, at), ...argv.slice(at + 1)] : argv;
  let y = globalOptions(yargs(words))
    .scriptName('ferry')
    .usage('$0 [global options] COMMAND [options]\n\nInspect, copy, sync, delete and sign container images across transports, without a daemon.')
    .epilog('Use "ferry help COMMAND" or "ferry COMMAND --help" for more information about a command.')
    .parserConfiguration(PARSER_CONFIG)
    // ferry speaks English: yargs' own messages stay in its built-in English whatever LANG says (the bundle carries
    // no translations), without yargs reading the locale from the environment and looking for its file
    .detectLocale(false)
    .version('version', 'print the version and exit (also -v, before the command)', VERSION_LINE)
    .help()
    .alias('h', 'help')
    .strict();
  if (!runsAsDefault) y = y.demandCommand(1, 'a command is required').recommendCommands();
  y = y
    // wide enough for untrusted-signature-dump-without-verification in the command list (yargs gives names half the width)
    .wrap(Math.min(110, (io.stdout as { columns?: number }).columns ?? 110))
    .exitProcess(false)
    .fail((msg, err) => {
      failed = err ?? new UsageError(msg + flagHint(msg, argv, Object.keys((y as WithOptions).getOptions().key)));
    });
  /** The yargs handler running `handler` as a command: the exit status, `--command-timeout`. */
  const runHandler: RunHandler = (handler) => async (args) => {
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
      status = (await handler(args, cli)) ?? 0;
    } finally {
      clearTimeout(timer);
    }
  };
  if (runsAsDefault) {
    // the command's own words after `$0` (its name is not among the words parsed); its required arguments are also
    // required options, so that a missing one is named as when the command runs named ("Missing required argument:
    // IMAGE-NAME", not yargs' count of the words)
    const rest = spec.command.split(' ').slice(1);
    const required = rest.filter((w) => !w.startsWith('[')).map((w) => w.replace(/^<|>$/g, ''));
    y = y.command(['$0', ...rest].join(' '), spec.describe, (b) => hideUnusedGlobals(spec.builder(required.length > 0 ? b.demandOption(required) : b, runHandler), wanted!), runHandler(spec.handler));
  } else {
    for (const [name, entry] of Object.entries(COMMANDS)) {
      if (spec && name === wanted) {
        y = y.command(spec.command, spec.describe, (b) => hideUnusedGlobals(spec.builder(b, runHandler), wanted!), runHandler(spec.handler));
      } else {
        y = y.command(name, entry.describe);
      }
    }
  }
  try {
    let helpOut = '';
    await y.parseAsync(words, {}, (err, _argv, output) => {
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
      await write(io.stderr, `Error: ${redactCredentials(failed.message)}\nSee 'ferry ${wanted !== undefined ? `${wanted} ` : ''}--help'.\n`);
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

/** yargs' `getOptions()` (at run time on every instance, missing from its type declarations): the flags declared. */
type WithOptions = Argv & { getOptions(): { key: Record<string, unknown> } };

/**
 * For yargs' `Unknown argument(s): a, b`: the known flags the mistyped ones among them were probably meant to be
 * (` (did you mean --format?)`), or nothing. `options` are the names of the command's flags.
 */
function flagHint(msg: string, argv: readonly string[], options: readonly string[]): string {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (m === null) return '';
  const dash = (name: string) => (name.length === 1 ? `-${name}` : `--${name}`);
  const typed = new Set(argv.filter((a) => a.startsWith('-')).map((a) => a.replace(/^--?/, '').replace(/=.*$/s, '')));
  const hints: string[] = [];
  for (const name of m[1]!.split(', ')) {
    if (!typed.has(name)) continue;
    // flags only: not one-letter aliases, nor the command's positional words (IMAGE-NAME), which yargs lists too
    const near = closest(name, options.filter((o) => o.length > 1 && o === o.toLowerCase()));
    if (near !== undefined) hints.push(`${dash(near)} for ${dash(name)}`);
  }
  if (hints.length === 0) return '';
  return hints.length === 1 ? ` (did you mean ${hints[0]!.replace(/ for .*$/, '')}?)` : ` (did you mean ${hints.join(', ')}?)`;
}

/** The flag the scripts of `ferry completion` call ferry with: `ferry --get-yargs-completions ferry WORDS…` (yargs' name). */
const COMPLETION_KEY = '--get-yargs-completions';

/**
 * Prints the completion candidates for the last of `words` (the command line up to the cursor, `ferry` first), one a
 * line: yargs' own (commands, the options of the command typed and of ferry, option choices), or image names (see
 * completion.ts). The command's options are declared at the top level so yargs offers them without running it;
 * nothing is validated and nothing runs. Never fails: a shell asked for candidates, not for errors.
 */
async function complete(words: string[], io: CliIo): Promise<number> {
  try {
    const { default: yargs } = await import('yargs');
    const { isImageWord, imageNameCompletions, SHELLS } = await import('./completion.js');
    const wanted = words.find((a): a is CommandName => Object.hasOwn(COMMANDS, a));
    let y = globalOptions(yargs())
      .scriptName('ferry')
      .parserConfiguration(PARSER_CONFIG)
      .exitProcess(false)
      .fail(() => undefined);
    if (wanted !== undefined) y = (await COMMANDS[wanted].load()).default.builder(y);
    else for (const [name, entry] of Object.entries(COMMANDS)) y = y.command(name, entry.describe);
    const prev = words.length >= 2 ? words[words.length - 2]! : '';
    const prevName = /^--?[^-=][^=]*$/.test(prev) ? prev.replace(/^--?/, '') : undefined;
    y = y.completion(COMPLETION_KEY.slice(2), false, (current: string, argv: Record<string, unknown>, fallback: (onCompleted?: (err: unknown, list?: string[]) => void) => void, done: (c: string[]) => void) => {
      // the value of an option: its choices, if it has some (yargs' answer then), else nothing (the shell completes files)
      if (prevName !== undefined && argv[prevName] === current) fallback((_err: unknown, list?: string[]) => done((list ?? []).filter((l) => !l.startsWith('-') && !Object.hasOwn(COMMANDS, l))));
      else if (wanted === 'completion' && !current.startsWith('-')) done(SHELLS.filter((sh) => sh.startsWith(current)));
      else if (!isImageWord(current, wanted === undefined ? argv : { ...argv, _: [wanted] })) fallback();
      else void imageNameCompletions(current).then(done, () => done([]));
    });
    const list = await y.getCompletion(words);
    const lines = (list ?? []).map(String).filter((l) => wanted === undefined || !Object.hasOwn(COMMANDS, l));
    if (lines.length > 0) await write(io.stdout, lines.join('\n') + '\n');
  } catch {
    // no candidates
  }
  return 0;
}
