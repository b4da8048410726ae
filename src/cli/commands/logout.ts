import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { contextFromArgs } from '../options/registry.js';
import { registryKey } from '../options/registry-key.js';
import { loginFile, loginFileFlags } from '../options/auth-file-target.js';
import { FerryError, ErrorCode } from '../../errors.js';

const spec: CommandSpec = {
  command: 'logout [REGISTRY]',
  describe: 'Logout of a container registry',
  builder: (y) =>
    y
      .positional('REGISTRY', { type: 'string', describe: 'registry host[:port], optionally with a repository path' })
      .options({
        ...loginFileFlags,
        // accepted for skopeo's scripts: logging out edits a file and contacts no registry
        'tls-verify': { type: 'boolean', describe: 'accepted for compatibility; logout does not contact the registry' },
        all: { alias: 'a', type: 'boolean', describe: 'remove the credentials of every registry' },
      }),
  async handler(args, cli) {
    const ctx = contextFromArgs(args, '', cli.io.env);
    const { dockerCompatKey, removeCredentials, removeAllCredentials } = await import('../../config/auth-file.js');
    const { path: file, dockerCompat, helpers } = await loginFile(args, ctx);
    if (args['all']) {
      if (args['REGISTRY'] !== undefined) throw new FerryError(ErrorCode.Usage, '--all takes no REGISTRY');
      await removeAllCredentials(file, helpers);
      await write(cli.io.stdout, 'Removed login credentials for all registries\n');
      return;
    }
    if (args['REGISTRY'] === undefined) throw new FerryError(ErrorCode.Usage, 'REGISTRY or --all is required');
    const { key } = registryKey(String(args['REGISTRY']));
    if (!(await removeCredentials(file, dockerCompat ? dockerCompatKey(key) : key, key, helpers))) throw new FerryError(ErrorCode.Unauthorized, `not logged into ${key}`);
    await write(cli.io.stdout, `Removed login credentials for ${key}\n`);
  },
};
export default spec;
