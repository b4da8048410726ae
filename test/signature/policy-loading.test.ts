/**
 * What a trust policy check loads: the signature code (OpenPGP, sigstore, keys) only for a policy that asks for
 * signatures. A copy under `insecureAcceptAnything` (the usual policy.json) compiles none of it. Checked in a fresh Node
 * process with a module loader hook recording every file module it loads.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { modulesLoadedBy } from '../harness/modules.js';
import { useCleanup } from '../harness/tmp.js';

/** The compiled src/ next to this compiled test (.build/src). */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** A module body loading the policy at `policyFile` as `copy` does, and checking an unsigned image against it. */
function checkUnder(policyFile: string, home: string): string {
  const mod = pathToFileURL(path.join(SRC, 'cli/options/policy.js')).href;
  return `const { policyFromArgs } = await import(${JSON.stringify(mod)});
    const policy = await policyFromArgs({ policy: ${JSON.stringify(policyFile)} }, { HOME: ${JSON.stringify(home)} });
    const image = { transport: 'docker', identity: 'example.com/app:v1', namespaces: ['example.com/app', 'example.com'],
      name: 'docker://example.com/app:v1', dockerReference: 'example.com/app:v1', manifest: Buffer.from('{}'), signatures: async () => [] };
    await policy.checkImage(image).catch((e) => { if (e.code !== 'E_POLICY') throw e; });`;
}

/** The signature modules among `loaded` (paths relative to the compiled src/, or absolute). */
const signatureCode = (loaded: string[]) =>
  loaded.filter(
    (p) =>
      ['signed-by.js', 'sigstore-signed.js'].map((f) => path.join('signature', 'policy', f)).includes(p) ||
      ['openpgp.js', 'verify.js', 'keys.js', 'gpg.js', 'payload.js'].map((f) => path.join('signature', f)).includes(p) ||
      p.startsWith(path.join('signature', 'sigstore') + path.sep) ||
      /[\\/]node_modules[\\/]openpgp[\\/]/.test(p),
  );

describe('signature/policy: what a policy check loads', function () {
  this.timeout(60_000);
  const cleanup = useCleanup();

  async function policyFile(requirement: object): Promise<{ file: string; home: string }> {
    const home = await cleanup.tempDir('policy-loading');
    const file = path.join(home, 'policy.json');
    await writeFile(file, JSON.stringify({ default: [requirement] }));
    return { file, home };
  }

  it('insecureAcceptAnything: none of the signature code', async () => {
    const { file, home } = await policyFile({ type: 'insecureAcceptAnything' });
    const loaded = await modulesLoadedBy(checkUnder(file, home), SRC);
    expect(loaded).to.include(path.join('signature', 'policy', 'evaluate.js')); // the hook sees the modules
    expect(signatureCode(loaded)).to.deep.equal([]);
  });

  it('signedBy and sigstoreSigned: their code, when the policy asks for signatures', async () => {
    const key = path.join(await cleanup.tempDir('policy-loading-key'), 'key.pub');
    await writeFile(key, 'not a key');
    const gpg = await policyFile({ type: 'signedBy', keyType: 'GPGKeys', keyPath: key });
    expect(await modulesLoadedBy(checkUnder(gpg.file, gpg.home), SRC)).to.include(path.join('signature', 'policy', 'signed-by.js'));
    const sigstore = await policyFile({ type: 'sigstoreSigned', keyPath: key });
    expect(await modulesLoadedBy(checkUnder(sigstore.file, sigstore.home), SRC)).to.include(path.join('signature', 'policy', 'sigstore-signed.js'));
  });
});
