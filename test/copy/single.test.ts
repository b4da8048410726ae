/**
 * copySingleImage's blob concurrency: `--image-parallel-copies` when given, else the destination's
 * `preferredParallelBlobs` (containers-storage and docker-archive: ask for 4), else 6. Real oci: layouts on both sides; the
 * destination is the real one, wrapped to hold each putBlob a moment and count how many run at once.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { copyImage } from '../../src/copy/index.js';
import { STORAGE_DESTINATION_PROPERTIES } from '../../src/transports/containers-storage/destination.js';
import { DOCKER_ARCHIVE_PROPERTIES } from '../../src/transports/docker-archive/write-common.js';
import { parseImageName } from '../../src/transports/registry.js';
import { PolicyContext } from '../../src/signature/policy/evaluate.js';
import type { ImageDestination } from '../../src/types/image.js';
import type { ImageReference } from '../../src/types/reference.js';
import { buildImage, type BuiltImage } from '../harness/images.js';
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
