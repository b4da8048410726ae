import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { FerryError } from '../../errors.js';
import { readNamedFile } from '../../util/bounded-read.js';
import { formatUntrustedSignatureInformation, untrustedSignatureInformation } from '../../signature/untrusted-info.js';

const spec: CommandSpec = {
  command: 'untrusted-signature-dump-without-verification SIGNATURE',
  describe: 'Dump contents of a signature WITHOUT VERIFYING IT',
  builder: (y) => y.positional('SIGNATURE', { type: 'string', describe: 'path of the signature file (not verified: do not trust what it prints)' }),
  async handler(args, cli) {
    const file = String(args['SIGNATURE']);
    const blob = await readNamedFile(file, 'signature', { signal: cli.signal });
    let text: string;
    try {
      text = formatUntrustedSignatureInformation(await untrustedSignatureInformation(blob));
    } catch (e) {
      if (!(e instanceof FerryError)) throw e;
      throw new FerryError(e.code, `Error decoding untrusted signature: ${e.message}`, { cause: e });
    }
    await write(cli.io.stdout, text + '\n');
  },
};
export default spec;
