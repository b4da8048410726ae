/**
 * What a copy that moves no byte loads: every blob mounted from another repository of the destination registry, under
 * an `insecureAcceptAnything` policy. Such a copy costs little more than an inspect only if it also compiles little
 * more: none of the signature code (OpenPGP, sigstore), nor the compression codecs. A fresh Node process runs the copy
 * engine as `ferry copy` calls it, with a module loader hook recording every file module it loads.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { copyImage } from '../../src/copy/index.js';
import { PolicyContext } from '../../src/signature/policy/evaluate.js';
import { parseImageName } from '../../src/transports/registry.js';
import type { SystemContext } from '../../src/types/context.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { modulesLoadedBy } from '../harness/modules.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

/** The compiled src/ next to this compiled test (.build/src). */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
const mod = (p: string) => JSON.stringify(pathToFileURL(path.join(SRC, p)).href);

describe('copy: the modules of an all-mounted copy', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let ctx: SystemContext;
  let policyFile: string;

  before(async () => {
    const home = await cleanup.tempDir('mounted-modules');
    await writeFile(path.join(home, 'empty.conf'), '');
    policyFile = path.join(home, 'policy.json');
    await writeFile(policyFile, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    ctx = { registriesConf: path.join(home, 'empty.conf'), homeDir: home, noCreds: true, tlsVerify: false };
    img = await buildImage(path.join(home, 'img'), { seed: 34, layers: 3, layerSize: 4096, tag: 'v1' });
    await pushImage(img, registry(), 'mm/src:v1');
    // records in the blob-location cache (in `home`) that mm/src and mm/a hold every blob
    await copyImage(parseImageName(`docker://${registry().host}/mm/src:v1`), parseImageName(`docker://${registry().host}/mm/a:v1`), {
      policy: PolicyContext.acceptAnything(),
      srcCtx: ctx,
      destCtx: ctx,
    });
  });

  it('loads no signature code and no compression codec', async () => {
    const blobs = img.manifests[0]!.layers.length + 1;
    const loaded = await modulesLoadedBy(
      `const { policyFromArgs } = await import(${mod('cli/options/policy.js')});
       const { parseImageName } = await import(${mod('transports/registry.js')});
       const { copyImage } = await import(${mod('copy/copy.js')});
       const ctx = ${JSON.stringify(ctx)};
       const policy = await policyFromArgs({ policy: ${JSON.stringify(policyFile)} }, { HOME: ctx.homeDir });
       const reasons = [];
       const onProgress = (e) => { if (e.kind === 'skipped') reasons.push(e.reason); };
       await copyImage(parseImageName('docker://${registry().host}/mm/src:v1'), parseImageName('docker://${registry().host}/mm/b:v1'),
         { policy, srcCtx: ctx, destCtx: ctx, onProgress });
       if (reasons.length !== ${blobs} || !reasons.every((r) => r.startsWith('mounted from'))) throw new Error('not all mounted: ' + reasons);`,
      SRC,
    );
    expect(loaded).to.include(path.join('copy', 'blob.js')); // the hook sees the modules
    const unwanted = loaded.filter(
      (p) =>
        p.startsWith(path.join('compression') + path.sep) ||
        ['signed-by.js', 'sigstore-signed.js'].map((f) => path.join('signature', 'policy', f)).includes(p) ||
        ['openpgp.js', 'verify.js', 'keys.js', 'gpg.js'].map((f) => path.join('signature', f)).includes(p) ||
        p.startsWith(path.join('signature', 'sigstore') + path.sep) ||
        /[\\/]node_modules[\\/](openpgp|zstd-napi)[\\/]/.test(p),
    );
    expect(unwanted).to.deep.equal([]);
  });
});
