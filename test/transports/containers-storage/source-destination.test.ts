import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseStorageReference } from '../../../src/transports/containers-storage/transport.js';
import { isCode, ErrorCode } from '../../../src/errors.js';
import { Store } from '../../../src/store/store.js';
import { buildTar, gzip, sha256 } from '../../store/tar-build.js';
import { readAll } from '../../harness/expect.js';
import { isRoot, removeStore, tempStore } from '../../store/helpers.js';

describe('containers-storage: source and destination contract', function () {
  this.timeout(20000);
  let t: ReturnType<typeof tempStore>;
  before(function () {
    if (!isRoot) this.skip();
  });
  beforeEach(() => (t = tempStore('ferry-cs-')));
  afterEach(() => t && removeStore(t.dir));

  const tar = buildTar([{ name: 'hello.txt', data: 'hello' }]);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }));

  /** Writes one image through the destination, with the layer compressed or not. */
  async function write(name: string, compressed: boolean, signatures: Buffer[], commit = true) {
    const blob = compressed ? gzip(tar) : tar;
    const layerType = compressed ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar';
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: layerType, digest: sha256(blob), size: blob.length }],
    }));
    const ref = parseStorageReference(`[overlay@${t.G}+${t.R}]${name}`);
    const dest = await ref.newImageDestination({});
    expect(dest.properties.desiredLayerCompression).to.equal('preserve');
    expect(await dest.tryReusingBlob({ digest: sha256(blob), size: blob.length, mediaType: layerType })).to.equal(undefined);
    const put = await dest.putBlob(Readable.from([blob]), { digest: sha256(blob), size: blob.length, mediaType: layerType });
    expect(put.digest).to.equal(sha256(blob));
    await dest.putBlob(Readable.from([config]), { digest: sha256(config), size: config.length, mediaType: 'application/vnd.oci.image.config.v1+json' });
    await dest.putManifest({ bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    await dest.putSignatures(signatures);
    if (commit) await dest.commit();
    await dest.close();
    return { ref, manifest, blob };
  }

  it('round-trips manifest, config, layer and signatures when the layer is stored as it is served', async () => {
    const sigs = [Buffer.from('sig-one'), Buffer.from('signature two')];
    const { ref, manifest } = await write('example.com/plain:1', false, sigs);
    const src = await ref.newImageSource({});
    const m = await src.getManifest();
    expect(m.bytes.equals(manifest)).to.equal(true);
    expect((await src.getSignatures()).map((s) => s.toString())).to.deep.equal(['sig-one', 'signature two']);
    expect((await readAll((await src.getBlob({ digest: sha256(config), size: -1 })).stream)).equals(config)).to.equal(true);
    const layer = await src.getBlob({ digest: sha256(tar), size: -1 });
    expect(layer.size).to.equal(tar.length);
    expect((await readAll(layer.stream)).equals(tar)).to.equal(true);
    let e: unknown;
    try { await src.getBlob({ digest: sha256(Buffer.from('nope')), size: -1 }); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.NotFound)).to.equal(true);
    await src.close();
  });

  it('serves the stored manifest and signatures of a compressed-stored layer, names its uncompressed form for copies, and cannot serve the compressed blob', async () => {
    const { ref, manifest, blob } = await write('example.com/gz:1', true, [Buffer.from('s')]);
    const src = await ref.newImageSource({});
    const m = await src.getManifest();
    expect(m.bytes.equals(manifest), 'stored manifest bytes').to.equal(true);
    expect(m.mediaType).to.equal('application/vnd.oci.image.manifest.v1+json');
    expect(await src.layerInfosForCopy!()).to.deep.equal([{ digest: sha256(tar), size: tar.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' }]);
    expect((await src.getSignatures()).map((x) => x.toString()), 'signatures of the stored manifest').to.deep.equal(['s']);
    const layer = await src.getBlob({ digest: sha256(tar), size: -1 });
    expect(layer.size).to.equal(tar.length);
    expect((await readAll(layer.stream)).equals(tar)).to.equal(true);
    let e: unknown;
    try { await src.getBlob({ digest: sha256(blob), size: blob.length }); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.NotFound), String(e)).to.equal(true);
    expect(String(e)).to.include(sha256(tar));
    e = undefined;
    try { await src.getManifest(sha256(Buffer.from('no such instance'))); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.NotFound), String(e)).to.equal(true);
    await src.close();
  });

  it('needs no layer changes for an uncompressed-stored layer (layerInfosForCopy undefined)', async () => {
    const { ref, manifest } = await write('example.com/plain:2', false, []);
    const src = await ref.newImageSource({});
    expect((await src.getManifest()).bytes.equals(manifest)).to.equal(true);
    expect(await src.layerInfosForCopy!()).to.equal(undefined);
    await src.close();
  });

  it('reuses layers by compressed and by uncompressed digest; close without commit leaves nothing', async () => {
    const { blob } = await write('example.com/gz:1', true, []);
    const ref = parseStorageReference(`[overlay@${t.G}+${t.R}]example.com/other:1`);
    const dest = await ref.newImageDestination({});
    expect(await dest.tryReusingBlob({ digest: sha256(blob), size: -1, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' })).to.deep.include({ digest: sha256(blob), size: blob.length });
    expect(await dest.tryReusingBlob({ digest: sha256(tar), size: -1, mediaType: 'application/vnd.oci.image.layer.v1.tar' })).to.deep.include({ size: tar.length });
    await dest.close();
    const other = buildTar([{ name: 'x', data: 'y' }]);
    const d2 = await parseStorageReference(`[overlay@${t.G}+${t.R}]example.com/never:1`).newImageDestination({});
    await d2.putBlob(Readable.from([other]), { digest: sha256(other), size: other.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' });
    expect(readdirSync(join(t.G, 'overlay', '.ferry-staging'))).to.have.length(1);
    await d2.close();
    expect(readdirSync(join(t.G, 'overlay', '.ferry-staging'))).to.deep.equal([]);
    const names = (await new Store({ graphRoot: t.G, runRoot: t.R, driver: 'overlay' }).images()).flatMap((i) => i.names ?? []);
    expect(names).to.deep.equal(['example.com/gz:1']);
  });

  it('refuses a layer whose diff ID does not match the config', async () => {
    const wrong = buildTar([{ name: 'other', data: '!' }]);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { digest: sha256(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(wrong), size: wrong.length }] }));
    const dest = await parseStorageReference(`[overlay@${t.G}+${t.R}]example.com/bad:1`).newImageDestination({});
    await dest.putBlob(Readable.from([wrong]), { digest: sha256(wrong), size: wrong.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' });
    await dest.putBlob(Readable.from([config]), { digest: sha256(config), size: config.length, mediaType: 'application/vnd.oci.image.config.v1+json' });
    await dest.putManifest({ bytes: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    let e: unknown;
    try { await dest.commit(); } catch (x) { e = x; }
    expect(isCode(e, ErrorCode.DigestMismatch)).to.equal(true);
    await dest.close();
    expect(readdirSync(join(t.G, 'overlay')).filter((d) => /^[0-9a-f]{64}$/.test(d))).to.deep.equal([]);
  });
});
