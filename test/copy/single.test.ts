/**
 * copySingleImage's blob concurrency: `--image-parallel-copies` when given, else the destination's
 * `preferredParallelBlobs` (containers-storage and docker-archive: ask for 4), else 6. Real oci: layouts on both sides; the
 * destination is the real one, wrapped to hold each putBlob a moment and count how many run at once.
 * And when the config is copied: with the layers into a registry (`blobsInAnyOrder`), after them into an archive; the
 * destinations are real ones (a registry, a docker-archive), wrapped to record the order of their `tryReusingBlob` calls.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyImage } from '../../src/copy/index.js';
import { STORAGE_DESTINATION_PROPERTIES } from '../../src/transports/containers-storage/destination.js';
import { DOCKER_ARCHIVE_PROPERTIES } from '../../src/transports/docker-archive/write-common.js';
import { parseImageName } from '../../src/transports/registry.js';
import { PolicyContext } from '../../src/signature/policy/evaluate.js';
import type { ImageDestination } from '../../src/types/image.js';
import type { ImageReference } from '../../src/types/reference.js';
import type { SystemContext } from '../../src/types/context.js';
import { rejection } from '../harness/expect.js';
import { buildImage, layoutBlobPath, type BuiltImage } from '../harness/images.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

/** `ref` whose destination reports `preferred` and records the most putBlob calls in flight. */
function counting(ref: ImageReference, preferred: number | undefined, seen: { max: number }): ImageReference {
  const wrapped = Object.create(ref) as ImageReference;
  let active = 0;
  wrapped.newImageDestination = async (ctx, opts) => {
    const d = await ref.newImageDestination(ctx, opts);
    return new Proxy(d, {
      get(target, p) {
        if (p === 'properties') return { ...target.properties, preferredParallelBlobs: preferred };
        if (p === 'putBlob') {
          return async (...args: Parameters<ImageDestination['putBlob']>) => {
            active++;
            seen.max = Math.max(seen.max, active);
            try {
              await sleep(150); // long enough for every allowed copy to reach putBlob, even on a loaded machine
              return await target.putBlob(...args);
            } finally {
              active--;
            }
          };
        }
        const v = Reflect.get(target, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  return wrapped;
}

describe('copy: how many blobs at once', function () {
  this.timeout(30_000);
  const cleanup = useCleanup();
  let img: BuiltImage;

  before(async () => {
    img = await buildImage(await cleanup.tempDir('par-src'), { seed: 31, layers: 8, layerSize: 4096, tag: 'v1' });
  });

  async function maxInFlight(preferred: number | undefined, parallel?: number): Promise<number> {
    const seen = { max: 0 };
    const dest = counting(parseImageName(`oci:${join(await cleanup.tempDir('par-dst'), 'l')}:v1`), preferred, seen);
    await copyImage(parseImageName(`oci:${img.layoutDir}:v1`), dest, { policy: PolicyContext.acceptAnything(), ...(parallel === undefined ? {} : { parallel }) });
    return seen.max;
  }

  it("uses the destination's preferred number when none is given, 6 when it has none, and the given one always", async () => {
    expect(await maxInFlight(3)).to.equal(3);
    expect(await maxInFlight(undefined)).to.equal(6);
    expect(await maxInFlight(3, 5)).to.equal(5);
  });

  it('containers-storage: asks for 4', () => {
    expect(STORAGE_DESTINATION_PROPERTIES.preferredParallelBlobs).to.equal(4);
  });

  it('docker-archive: asks for 4 (layers are decompressed on the 4-thread pool; more at once only hold memory)', () => {
    expect(DOCKER_ARCHIVE_PROPERTIES.preferredParallelBlobs).to.equal(4);
  });
});

/**
 * `ref` whose destination records, in order, each `tryReusingBlob` call (`call <digest>`) and its answer
 * (`done <digest>`).
 */
function recording(ref: ImageReference, events: string[]): ImageReference {
  const wrapped = Object.create(ref) as ImageReference;
  wrapped.newImageDestination = async (ctx, opts) => {
    const d = await ref.newImageDestination(ctx, opts);
    return new Proxy(d, {
      get(target, p) {
        if (p === 'tryReusingBlob') {
          return async (...args: Parameters<ImageDestination['tryReusingBlob']>) => {
            events.push(`call ${args[0].digest}`);
            try {
              return await target.tryReusingBlob(...args);
            } finally {
              events.push(`done ${args[0].digest}`);
            }
          };
        }
        const v = Reflect.get(target, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
  return wrapped;
}

describe('copy: when the config is copied', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let ctx: SystemContext;
  let config: string;
  let layers: string[];

  before(async () => {
    const dir = await cleanup.tempDir('cfg-src');
    await writeFile(join(dir, 'empty.conf'), '');
    ctx = { registriesConf: join(dir, 'empty.conf'), homeDir: dir, noCreds: true, tlsVerify: false };
    img = await buildImage(join(dir, 'img'), { seed: 32, layers: 3, layerSize: 4096, tag: 'v1' });
    config = img.manifests[0]!.configDigest;
    layers = img.manifests[0]!.layers.map((l) => l.digest);
  });

  const src = () => parseImageName(`oci:${img.layoutDir}:v1`);
  const copyTo = (dest: ImageReference) => copyImage(src(), dest, { policy: PolicyContext.acceptAnything(), destCtx: ctx });

  it('into a registry: with the layers (its request goes with theirs, not one round trip later)', async () => {
    const events: string[] = [];
    await copyTo(recording(parseImageName(`docker://${registry().host}/cfg/with-layers:v1`), events));
    const configCall = events.indexOf(`call ${config}`);
    const firstDone = events.findIndex((e) => e.startsWith('done '));
    expect(configCall, events.join('\n')).to.be.within(0, firstDone);
    expect(events.filter((e) => e.startsWith('call ')).sort()).to.deep.equal([config, ...layers].map((d) => `call ${d}`).sort());
  });

  it('into an archive (blobs laid out as they arrive): after every layer, as skopeo', async () => {
    const events: string[] = [];
    const out = join(await cleanup.tempDir('cfg-archive'), 'a.tar');
    await copyTo(recording(parseImageName(`docker-archive:${out}:cfg/archive:v1`), events));
    const configCall = events.indexOf(`call ${config}`);
    expect(configCall, events.join('\n')).to.be.greaterThan(0);
    for (const l of layers) expect(events.indexOf(`done ${l}`), events.join('\n')).to.be.within(0, configCall);
  });

  it('a config that fails while the layers are copied fails the copy once they are done, naming it; nothing is tagged', async () => {
    const bad = await buildImage(join(await cleanup.tempDir('cfg-bad'), 'img'), { seed: 33, layers: 3, layerSize: 4096, tag: 'v1' });
    const cfg = bad.manifests[0]!.configDigest;
    const path = layoutBlobPath(bad.layoutDir, cfg);
    const bytes = await readFile(path);
    bytes[0] = bytes[0]! ^ 0xff; // same size, wrong digest
    await writeFile(path, bytes);
    const dest = parseImageName(`docker://${registry().host}/cfg/bad:v1`);
    const e = await rejection(copyImage(parseImageName(`oci:${bad.layoutDir}:v1`), dest, { policy: PolicyContext.acceptAnything(), destCtx: ctx }));
    expect(e.code).to.equal('E_DIGEST_MISMATCH');
    expect(e.message).to.include(cfg);
    const tags = await fetch(`${registry().url}/v2/cfg/bad/tags/list`);
    expect(tags.status).to.equal(404);
  });
});
