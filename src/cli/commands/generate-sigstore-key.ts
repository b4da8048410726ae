import type { CommandSpec } from '../command.js';
import { FerryError, ErrorCode } from '../../errors.js';

const spec: CommandSpec = {
  command: 'generate-sigstore-key',
  describe: 'Generate a sigstore public/private key pair',
  builder: (y) =>
    y
      .options({
        'output-prefix': { type: 'string', describe: 'write the keys to PREFIX.pub and PREFIX.private', requiresArg: true, demandOption: true },
        'passphrase-file': { type: 'string', describe: 'read the passphrase of the private key from the first line of FILE', requiresArg: true },
      })
      .example('$0 generate-sigstore-key --output-prefix mykey', 'write mykey.pub and mykey.private (asks for a passphrase)'),
  async handler(args, cli) {
    const prefix = String(args['output-prefix']);
    if (prefix === '') throw new FerryError(ErrorCode.Usage, '--output-prefix must not be empty');
    const pubFile = `${prefix}.pub`;
    const privFile = `${prefix}.private`;
    const { lstat } = await import('node:fs/promises');
    for (const f of [pubFile, privFile]) {
      const exists = await lstat(f).then(
        () => true,
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT') return false;
          throw new FerryError(ErrorCode.Io, `checking ${f}: ${e.message}`, { cause: e });
        },
      );
      if (exists) throw new FerryError(ErrorCode.Usage, `refusing to overwrite ${f}: it already exists`);
    }
    let passphrase: string;
    const passFile = args['passphrase-file'] as string | undefined;
    if (passFile !== undefined) {
      const { readPassphraseFile } = await import('../../signature/keys.js');
      passphrase = await readPassphraseFile(passFile, cli.signal);
    } else {
      const { ask } = await import('../prompt.js');
      passphrase = await ask(cli.io, 'Enter a passphrase for the private key: ', { secret: true, flag: '--passphrase-file' });
      const again = await ask(cli.io, 'Enter the passphrase again: ', { secret: true, flag: '--passphrase-file' });
      if (again !== passphrase) throw new FerryError(ErrorCode.Usage, 'the passphrases do not match');
    }
    const { generateSigstoreKeyPair } = await import('../../signature/sigstore/key.js');
    const pair = await generateSigstoreKeyPair(passphrase);
    const { writeNewFile } = await import('../../util/new-file.js');
    await writeNewFile(privFile, pair.privateKeyPem, 0o600);
    try {
      await writeNewFile(pubFile, pair.publicKeyPem, 0o644);
    } catch (e) {
      const { unlink } = await import('node:fs/promises');
      await unlink(privFile).catch(() => {});
      throw e;
    }
    const { write } = await import('../io.js');
    await write(cli.io.stdout, `Key written to ${privFile} and ${pubFile}\n`);
  },
};
export default spec;
