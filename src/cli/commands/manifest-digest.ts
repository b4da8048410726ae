import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { manifestDigest } from '../../manifest/manifest-digest.js';
import { readBoundedFile } from '../../util/bounded-read.js';

const spec: CommandSpec = {
  command: 'manifest-digest MANIFEST',
  describe: 'Compute a manifest digest of a file',
  builder: (y) => y.positional('MANIFEST', { type: 'string', describe: 'path of a manifest file' }),
  async handler(args, cli) {
    const file = String(args['MANIFEST']);
    let bytes: Buffer;
    try {
      bytes = await readBoundedFile(file, { what: `manifest ${file}`, signal: cli.signal });
    } catch (e) {
      if (e instanceof FerryError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      throw new FerryError(
        code === 'ENOENT' ? ErrorCode.NotFound : ErrorCode.Io,
        `reading manifest ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
        { cause: e },
      );
    }
    await write(cli.io.stdout, manifestDigest(bytes) + '\n');
  },
};
export default spec;
