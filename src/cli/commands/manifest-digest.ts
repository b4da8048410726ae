import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { manifestDigest } from '../../manifest/manifest-digest.js';
import { readNamedFile } from '../../util/bounded-read.js';

const spec: CommandSpec = {
  command: 'manifest-digest MANIFEST',
  describe: 'Compute a manifest digest of a file',
  builder: (y) => y.positional('MANIFEST', { type: 'string', describe: 'path of a manifest file' }),
  async handler(args, cli) {
    const file = String(args['MANIFEST']);
    const bytes = await readNamedFile(file, 'manifest', { signal: cli.signal });
    await write(cli.io.stdout, manifestDigest(bytes) + '\n');
  },
};
export default spec;
