/**
 * The requests of a copy that transfers nothing (every blob is mounted from another repository of the destination
 * registry): real `bin/ferry copy` processes through the fault proxy, which records every request and connection. Such
 * copies are bound by round trips (bench/copy's docker→docker and warm oci→docker cases), so an extra ping, a blob
 * checked twice or a connection closed after each HEAD fails these tests.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferryProcess } from '../harness/cli.js';
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

describe('copy: round trips of an all-mounted copy (real bin/ferry, fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;
  let env: Record<string, string>;
  /** The image's blobs: its two layers, then its config. */
  let blobs: string[];

  before(async () => {
    const home = await cleanup.tempDir('round-trips');
    await writeFile(join(home, 'empty.conf'), '');
    env = {
      HOME: home,
      XDG_CACHE_HOME: join(home, 'cache'),
      CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'),
      REGISTRY_AUTH_FILE: join(home, 'no-auth.json'),
    };
    img = await buildImage(join(home, 'img'), { seed: 91, layers: 2, layerSize: 10_000 });
    const m = img.manifests[0]!;
    blobs = [...m.layers.map((l) => l.digest), m.configDigest];
    await pushImage(img, registry(), 'rt/src:v1');
  });

  const copy = async (src: string, dest: string) => {
    const r = await ferryProcess(['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--image-parallel-copies', '2', src, dest], { env });
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
  };
  /** `METHOD path status` of the requests from the `from`-th on, a mount's query reduced to its digest. */
  const lines = (p: FaultProxy, from: number) =>
    p.requests.slice(from).map((r) => `${r.method} ${r.path.replace(/\?mount=([^&]*)&from=.*$/, (_m, d: string) => `?mount=${decodeURIComponent(d)}`)} ${r.status}`);
  const sorted = (a: string[]) => [...a].sort();

  /**
   * Runs `copy` through `p` and checks that it sent only what a copy into the new repository `repo` needs when every
   * blob is mounted, over at most 5 connections.
   */
  async function expectAllMounted(p: FaultProxy, run: () => Promise<void>, repo: string, sourceManifest?: string) {
    const from = p.requests.length;
    const connectionsBefore = p.connections;
    await run();
    const got = lines(p, from);
    const start = ['GET /v2/ 200', ...(sourceManifest ? [`GET ${sourceManifest} 200`] : [])];
    // the two layers and the config together (in any order), then the manifest; the cache names where each blob is,
    // so each is mounted straight away, with no HEAD before
    const mounts = blobs.map((d) => `POST /v2/${repo}/blobs/uploads/?mount=${d} 201`);
    expect(got.slice(0, start.length)).to.deep.equal(start);
    expect(sorted(got.slice(start.length, start.length + 3))).to.deep.equal(sorted(mounts));
    expect(got.slice(start.length + 3)).to.deep.equal([`PUT /v2/${repo}/manifests/v1 201`]);
    // one connection for the https attempt (--dest-tls-verify=false tries https first, like skopeo), one for the ping
    // (its connection may not be idle yet when the first blobs start), one per blob copied at once (two layers and the
    // config): the source and the destination share the ping (and its https attempt), and a mount keeps its connection
    expect(p.connections - connectionsBefore).to.be.at.most(5);
  }

  it('docker → docker (new repository of the same registry): one ping, one manifest GET, one mount per blob, one PUT', async () => {
    const p = cleanup.track(await startFaultProxy(registry().url, () => undefined));
    // a first copy (its blobs mounted from the source repository: see source-mount.test.ts) warms the connections and
    // records rt/a in the blob-location cache
    await copy(`docker://${p.host}/rt/src:v1`, `docker://${p.host}/rt/a:v1`);
    await expectAllMounted(p, () => copy(`docker://${p.host}/rt/src:v1`, `docker://${p.host}/rt/b:v1`), 'rt/b', '/v2/rt/src/manifests/v1');
  });

  it('oci → docker (new repository, warm blob-location cache): one ping, one mount per blob, one PUT', async () => {
    const p = cleanup.track(await startFaultProxy(registry().url, () => undefined));
    const src = `oci:${img.layoutDir}:${img.tag}`;
    await copy(src, `docker://${p.host}/rt/o1:v1`);
    await expectAllMounted(p, () => copy(src, `docker://${p.host}/rt/o2:v1`), 'rt/o2');
  });
});
