/**
 * Planned layer sizes (src/copy/written-sizes.ts) against a real registry, and what docker-archive: does with
 * them end to end: the gzip trailer's size is read with a 4-byte Range request; a layer written as two gzip
 * members (whose trailer gives only the last member's size) is planned wrong, and the archive is still exactly
 * skopeo's.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { planLayerSizes } from '../../src/copy/written-sizes.js';
import { parseImageName } from '../../src/transports/registry.js';
import type { BlobInfo } from '../../src/types/image.js';
import { ferryProcess } from '../harness/cli.js';
import { startFaultProxy } from '../harness/fault-proxy.js';
import { runOk } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';
import { writeTar } from '../transports/docker-archive/helpers.js';

const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes an OCI layout holding one image with these layer blobs (gzip media type) and returns the layers. */
async function handLayout(dir: string, layers: { blob: Buffer; tar: Buffer }[]): Promise<BlobInfo[]> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => {
    await writeFile(join(dir, 'blobs', 'sha256', hex(b)), b);
    return `sha256:${hex(b)}`;
  };
  const infos: BlobInfo[] = [];
  for (const l of layers) infos.push({ digest: await put(l.blob), size: l.blob.length, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${hex(l.tar)}`) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
      layers: infos,
    }),
  );
  const md = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
  return infos;
}

async function tarOf(path: string, files: Record<string, Buffer>): Promise<Buffer> {
  await writeTar(path, Object.entries(files).map(([name, data]) => ({ name, data })));
  return readFile(path);
}

describe('copy: planned layer sizes (real registry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let tar1: Buffer;
  let tar2: Buffer;
  let layers: BlobInfo[];
  let src: string;

  before(async () => {
    const dir = await cleanup.tempDir('planned');
    tar1 = await tarOf(join(dir, 't1.tar'), { 'a.txt': Buffer.alloc(300_000, 'a'), 'b.bin': Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 255)) });
    tar2 = await tarOf(join(dir, 't2.tar'), { 'c.txt': Buffer.alloc(70_000, 'c') });
    // Layer 1: two gzip members (valid, as some layer writers produce); its trailer tells only the second's size.
    const half = 250_000;
    const multi = Buffer.concat([gzipSync(tar1.subarray(0, half)), gzipSync(tar1.subarray(half))]);
    layers = await handLayout(join(dir, 'layout'), [
      { blob: multi, tar: tar1 },
      { blob: gzipSync(tar2), tar: tar2 },
    ]);
    src = `docker://${registry().host}/planned/img:v1`;
    await runOk('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${join(dir, 'layout')}:v1`, src], { timeoutMs: 30_000 });
  });

  it('reads each gzip trailer with a 4-byte ranged read; a kept layer is planned at its own size', async () => {
    const source = await parseImageName(src).newImageSource({ tlsVerify: false });
    try {
      const signal = new AbortController().signal;
      const decompressing = await planLayerSizes(source, [...layers, layers[1]!], () => ({ canModify: true, desired: 'decompress' }), signal);
      expect(decompressing).to.deep.equal([
        { digest: layers[0]!.digest, writtenSize: tar1.length - 250_000 }, // what the last member's trailer says
        { digest: layers[1]!.digest, writtenSize: tar2.length },
      ]);
      const kept = await planLayerSizes(source, layers, () => ({ canModify: true, desired: 'preserve' }), signal);
      expect(kept.map((p) => p.writtenSize)).to.deep.equal(layers.map((l) => l.size));
      const unmodifiable = await planLayerSizes(source, layers, () => ({ canModify: false, desired: 'decompress' }), signal);
      expect(unmodifiable.map((p) => p.writtenSize)).to.deep.equal(layers.map((l) => l.size));
    } finally {
      await source.close();
    }
  });

  it('a registry that ignores Range (200 with the whole blob) leaves the layer unplanned instead of downloading it', async () => {
    const proxy = cleanup.track(
      await startFaultProxy(registry().url, (req) =>
        req.method === 'GET' && req.headers['range'] !== undefined ? { kind: 'status', status: 200, body: 'x'.repeat(5000) } : undefined,
      ),
    );
    const source = await parseImageName(`docker://${proxy.host}/planned/img:v1`).newImageSource({ tlsVerify: false });
    try {
      const plan = await planLayerSizes(source, layers, () => ({ canModify: true, desired: 'decompress' }), new AbortController().signal);
      expect(plan).to.deep.equal(layers.map((l) => ({ digest: l.digest })));
      expect(proxy.requests.filter((r) => r.headers['range'] !== undefined)).to.have.length(2);
    } finally {
      await source.close();
    }
  });

  it('docker-archive: a wrongly planned layer still gives exactly the archive skopeo writes', async () => {
    const dir = await cleanup.tempDir('planned-archive');
    const ours = join(dir, 'ferry.tar');
    const theirs = join(dir, 'skopeo.tar');
    const r = await ferryProcess(['copy', '-q', '--src-tls-verify=false', src, `docker-archive:${ours}:example.com/planned:v1`]);
    expect(r.code, r.stderr).to.equal(0);
    await runOk('skopeo', ['copy', '-q', '--src-tls-verify=false', src, `docker-archive:${theirs}:example.com/planned:v1`], { timeoutMs: 30_000 });
    expect((await readFile(ours)).equals(await readFile(theirs))).to.equal(true);
  });
});
