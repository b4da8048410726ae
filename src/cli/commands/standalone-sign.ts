import type { CommandSpec } from '../command.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { ioError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { normalizeFingerprint } from '../../signature/fingerprint.js';
import { resolveGpgSecretKey } from '../../signature/gpg.js';
import { loadSigningKey, readInputFile, readPassphraseFile } from '../../signature/keys.js';
import { signDockerManifest } from '../../signature/sign.js';

const spec: CommandSpec = {
  command: 'standalone-sign MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT',
  describe: 'Create a signature using local files',
  builder: (y) =>
    y
      .positional('MANIFEST', { type: 'string', describe: 'path of the manifest file to sign' })
      .positional('DOCKER-REFERENCE', { type: 'string', describe: 'the name to sign the image as, e.g. registry.example.com/app:1.0' })
      .positional('KEY-FINGERPRINT', { type: 'string', describe: 'the OpenPGP key to sign with: fingerprint, or with the GnuPG keyring any name gpg accepts (key ID, e-mail address)' })
      .options({
        output: { alias: 'o', type: 'string', describe: 'write the signature to SIGNATURE', requiresArg: true, demandOption: true },
        'passphrase-file': { type: 'string', describe: 'file whose first line is the passphrase of the key', requiresArg: true },
        key: { type: 'string', describe: 'read the private key from FILE instead of the GnuPG keyring', requiresArg: true },
      }),
  async handler(args, cli) {
    const keyFile = args['key'] as string | undefined;
    const name = String(args['KEY-FINGERPRINT']);
    // a key file is searched by fingerprint; the keyring resolves any name as gpg does
    const fingerprint = keyFile !== undefined ? normalizeFingerprint(name) : await resolveGpgSecretKey(name, { env: cli.io.env, signal: cli.signal });
    const passphraseFile = args['passphrase-file'] as string | undefined;
    const passphrase = passphraseFile !== undefined ? await readPassphraseFile(passphraseFile, cli.signal) : undefined;
    const manifest = await readInputFile(String(args['MANIFEST']), 'manifest', cli.signal);
    const key = await loadSigningKey({ fingerprint, keyFile, passphrase, env: cli.io.env, signal: cli.signal });
    const signature = await signDockerManifest({ manifest, dockerReference: String(args['DOCKER-REFERENCE']), key, creator: `ferry ${VERSION}` });
    const output = String(args['output']);
    try {
      await writeFileAtomic(output, signature, { signal: cli.signal });
    } catch (e) {
      throw ioError(`writing signature ${output}`, e);
    }
  },
};
export default spec;
