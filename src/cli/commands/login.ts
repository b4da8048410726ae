import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { ask, readAllStdin } from '../prompt.js';
import { contextFromArgs } from '../options/registry.js';
import { registryKey } from '../options/registry-key.js';
import { loginFile, loginFileFlags } from '../options/auth-file-target.js';
import { FerryError, ErrorCode } from '../../errors.js';

/** The longest password `--password-stdin` reads (a registry token is a few KiB): more fails instead of filling memory. */
const MAX_STDIN_PASSWORD = 64 * 1024;

const spec: CommandSpec = {
  command: 'login REGISTRY',
  describe: 'Login to a container registry',
  builder: (y) =>
    y
      .positional('REGISTRY', { type: 'string', describe: 'registry host[:port], optionally with a repository path' })
      .options({
        username: { alias: 'u', type: 'string', describe: 'username', requiresArg: true },
        password: { alias: 'p', type: 'string', describe: 'password (prefer --password-stdin)', requiresArg: true },
        'password-stdin': { type: 'boolean', describe: 'take the password from stdin' },
        ...loginFileFlags,
        verbose: { alias: 'v', type: 'boolean', describe: 'print the authentication file used' },
        'tls-verify': { type: 'boolean', describe: 'require HTTPS and verify certificates' },
        'cert-dir': { type: 'string', describe: 'use certificates at PATH to connect to the registry', requiresArg: true },
        'get-login': { type: 'boolean', describe: 'print the username stored for the registry and exit' },
      })
      .example('printf %s "$PASS" | $0 login --username me --password-stdin registry.example.com', 'log in without the password on the command line'),
  async handler(args, cli) {
    const { key, host } = registryKey(String(args['REGISTRY']));
    const ctx = contextFromArgs({ ...args, username: undefined, password: undefined }, '', cli.io.env);
    const { dockerCompatKey, lookupCredentials, lookupCredentialsInFile, saveCredentials } = await import('../../config/auth-file.js');
    const { checkLogin } = await import('../../registry/login.js');
    const file = await loginFile(args, ctx);
    const fileKey = file.dockerCompat ? dockerCompatKey(key) : key;
    const [repoHost, ...path] = key.split('/');
    const lookup = () => (file.dockerCompat ? lookupCredentialsInFile(file.path, repoHost!, path.join('/')) : lookupCredentials(repoHost!, path.join('/'), ctx));
    // skopeo's words, two spaces included
    if (args['verbose']) await write(cli.io.stdout, `Used:  ${file.path}\n`);

    if (args['get-login']) {
      const existing = await lookup();
      if (!existing || !('username' in existing) || !existing.username) throw new FerryError(ErrorCode.Unauthorized, `not logged into ${key}`);
      await write(cli.io.stdout, existing.username + '\n');
      return;
    }

    let username = args['username'] as string | undefined;
    let password = args['password'] as string | undefined;
    if (args['password-stdin']) {
      if (password !== undefined) throw new FerryError(ErrorCode.Usage, '--password and --password-stdin are mutually exclusive');
      if (!username) throw new FerryError(ErrorCode.Usage, '--password-stdin requires --username');
      password = await readAllStdin(cli.io, { what: '--password-stdin input', limit: MAX_STDIN_PASSWORD });
    }
    if (username === undefined && password === undefined) {
      const existing = await lookup().catch(() => undefined);
      if (existing && 'username' in existing && existing.username && existing.password) {
        try {
          await checkLogin(host, { username: existing.username, password: existing.password }, ctx, { signal: cli.signal });
          await write(cli.io.stdout, `Already logged in to ${key}\n`);
          return;
        } catch {
          // stored credentials no longer valid: ask for new ones
        }
      }
    }
    username ??= await ask(cli.io, 'Username: ', { flag: '--username' });
    password ??= await ask(cli.io, 'Password: ', { secret: true, flag: '--password-stdin' });
    if (!username) throw new FerryError(ErrorCode.Usage, 'username must not be empty');
    if (!password) throw new FerryError(ErrorCode.Usage, 'password must not be empty');

    await checkLogin(host, { username, password }, ctx, { signal: cli.signal });
    await saveCredentials(file.path, fileKey, { username, password }, key, file.helpers);
    await write(cli.io.stdout, 'Login Succeeded!\n');
  },
};
export default spec;
