import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { parseFingerprintList } from '../../signature/fingerprint.js';
import { loadVerificationKeys, readInputFile } from '../../signature/keys.js';
import { verifyDockerManifestSignature } from '../../signature/verify.js';
import { parseNormalizedName, repositoryString } from '../../reference/name.js';

const spec: CommandSpec = {
  command: 'standalone-verify MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE',
  describe: 'Verify a signature using local files',
  builder: (y) =>
    y
      .positional('MANIFEST', { type: 'string', describe: 'path of the manifest file' })
      .positional('DOCKER-REFERENCE', { type: 'string', describe: 'the name the signature must claim (compared normalized: busybox:1 is docker.io/library/busybox:1)' })
      .positional('KEY-FINGERPRINTS', { type: 'string', describe: 'fingerprint(s) of the accepted keys, comma-separated, or "any" (with --public-key-file)' })
      .positional('SIGNATURE', { type: 'string', describe: 'path of the signature file' })
      .options({
        // skopeo's name; --public-key is what ferry called it first
        'public-key-file': { alias: 'public-key', type: 'string', describe: 'verify with the public keys in FILE instead of the GnuPG keyring (repeat for more)', requiresArg: true },
      }),
  async handler(args, cli) {
    const fingerprints = parseFingerprintList(String(args['KEY-FINGERPRINTS']));
    const raw = args['public-key-file'] as string | string[] | undefined;
    const publicKeyFiles = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    if (fingerprints === 'any' && publicKeyFiles.length === 0) {
      throw new FerryError(ErrorCode.Usage, 'KEY-FINGERPRINTS "any" needs --public-key-file: it would accept any key of the GnuPG keyring');
    }
    const manifest = await readInputFile(String(args['MANIFEST']), 'manifest', cli.signal);
    const signature = await readInputFile(String(args['SIGNATURE']), 'signature', cli.signal);
    const keys = await loadVerificationKeys({ fingerprints: fingerprints === 'any' ? [] : fingerprints, publicKeyFiles, env: cli.io.env, signal: cli.signal });
    const { fingerprint, payload } = await verifyDockerManifestSignature({
      signature,
      manifest,
      dockerReference: String(args['DOCKER-REFERENCE']),
      parseDockerReference: (s) => {
        const n = parseNormalizedName(s);
        return { name: repositoryString(n), ...(n.tag !== undefined ? { tag: n.tag } : {}), ...(n.digest !== undefined ? { digest: n.digest } : {}) };
      },
      expectedFingerprints: fingerprints,
      keys,
    });
    await write(cli.io.stdout, `Signature verified using fingerprint ${fingerprint}, digest ${payload.dockerManifestDigest}\n`);
  },
};
export default spec;
