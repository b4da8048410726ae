/**
 * One conformance suite run against every transport (DESIGN.md example 11): for every ordered pair of
 * transports, `ferry copy` a generated image and check the result against the real skopeo 1.9.3:
 * - ferry and skopeo read the same manifest bytes from ferry's result, and from skopeo's;
 * - skopeo copying the same pair writes the same manifest, byte for byte, except layers skopeo writes
 *   differently from what the source serves (its Go gzip of an uncompressed layer, or a compressed variant
 *   its blob-info cache remembers): those must be compressed by ferry too, with the same diff IDs;
 * - the manifest digest is kept wherever the formats allow (`keepsDigest`); docker-archive: synthesizes its
 *   manifest (config digest kept, layers named by diff ID);
 * - interop onward: skopeo copies ferry's result to `oci:`, ferry copies skopeo's result to `oci:`; both give
 *   the config digests and diff IDs (computed from the layer bytes) of skopeo's own `oci:` copy of the
 *   original (converting Docker schema2 to OCI rewrites the config, so that is the reference).
 * Multi-arch images (`--all`) between transports that hold an index; single-arch elsewhere. Sources are
 * Docker schema2 images pushed to the registry and put into each transport by skopeo, so `oci:` sources are
 * OCI (converted by skopeo) and docker-archive: sources are synthesized schema2 with uncompressed layers.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType } from '../../src/manifest/media-types.js';
import { ferry } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { makeTempDir } from '../harness/tmp.js';
import { isRoot, removeStore } from '../store/helpers.js';
import { builtFacts, ociLayoutFacts, sha256, type ImageFacts } from './conformance/facts.js';
import { expectSameManifest, parseManifest } from './conformance/manifests.js';
import { conformanceTransports, type ConformanceTransport } from './conformance/transports.js';

/**
 * containers-storage needs root (overlay mounts): its rows run whenever the suite runs as root
 * (`FERRY_CONFORMANCE_CS=0` leaves them out).
 */
const WITH_CS = isRoot && process.env.FERRY_CONFORMANCE_CS !== '0';

/** Row ids, in table order. */
const IDS = ['docker', 'docker(token)', 'oci', 'oci-archive', 'dir', 'docker-archive', ...(WITH_CS ? ['containers-storage'] : [])];

/** The token registry runs the same checks against a subset of partners (the full row would add no coverage of transports, only time). */
const TOKEN_PARTNERS = new Set(['docker', 'oci', 'docker-archive', 'containers-storage']);

/** An image put into a source transport by skopeo (or pushed, for registries). */
interface Fixture {
  ref: string;
  /** The top-level manifest as skopeo reads it. */
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

/** Where the layers of a source transport's image come from, which decides if a manifest can survive a copy. */
function layersAsStored(t: ConformanceTransport): 'stored' | 'uncompressed' | 'rewritten' {
  if (t.id === 'docker-archive') return 'uncompressed'; // synthesized manifest already names the uncompressed layers
  if (t.id === 'containers-storage') return 'rewritten'; // stored manifest names gzip blobs; the store serves them uncompressed (layerInfosForCopy)
  return 'stored';
}

/** Destinations that compress uncompressed layers (as containers/image: docker and oci want gzip). */
const compresses = (t: ConformanceTransport) => t.id.startsWith('docker(') || t.id === 'docker' || t.id === 'oci' || t.id === 'oci-archive';

/** The layer digests a source serves (containers-storage: the uncompressed layers, whatever its manifest says). */
function servedLayers(src: ConformanceTransport, fx: Fixture, diffIds: string[]): string[] | undefined {
  const layers = parseManifest(fx.bytes).layers;
  if (!layers) return undefined;
  return src.id === 'containers-storage' ? diffIds : layers.map((l) => l.digest);
}

/** Whether copying `fx` from `src` to `dest` must keep the manifest digest. */
function keepsDigest(src: ConformanceTransport, dest: ConformanceTransport, fx: Fixture): boolean {
  if (dest.synthesizes) return src.synthesizes; // the same synthesized manifest again
  if (!dest.keeps(fx.mediaType)) return false;
  const layers = layersAsStored(src);
  return layers === 'stored' || (layers === 'uncompressed' && !compresses(dest));
}

describe('copy conformance: every transport pair, ferry vs skopeo 1.9.3', function () {
  this.timeout(120_000);
  const http = useRegistry('http');
  const token = useRegistry('token');
  let root: string;
  let env: Record<string, string>;
  let globals: string[];
  let multi: BuiltImage;
  let single: BuiltImage;
  let diffIds: Set<string>;
  let multiFacts: ImageFacts;
  let singleFacts: ImageFacts;
  const rows = new Map<string, ConformanceTransport>();
  const fixtures = new Map<string, { multi?: Fixture; single: Fixture }>();

  const skopeo = (...args: string[]) => run('skopeo', args, { env, timeoutMs: 60_000 });
  const skopeoOk = async (...args: string[]) => {
    const r = await skopeo(...args);
    expect(r.code, `skopeo ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r;
  };
  const ferryOk = async (...args: string[]) => {
    const r = await ferry([...globals, ...args], { env });
    expect(r.code, `ferry ${args.join(' ')}: ${r.stderr}`).to.equal(0);
    return r;
  };
  const rawBySkopeo = async (t: ConformanceTransport, ref: string) => (await skopeoOk('inspect', '--raw', ...t.flags(''), ref)).stdoutBytes;
  const rawByFerry = async (t: ConformanceTransport, ref: string) => (await ferryOk('inspect', '--raw', ...t.flags(''), ref)).stdoutBytes;

  before(async function () {
    this.timeout(60_000);
    root = await makeTempDir('conformance');
    await writeFile(join(root, 'registries.conf'), '');
    env = { HOME: root, REGISTRIES_CONFIG_PATH: join(root, 'registries.conf'), CONTAINERS_REGISTRIES_CONF: join(root, 'registries.conf') };
    globals = ['--registries-conf', join(root, 'registries.conf')];
    const small = { layers: 2, layerSize: 3000, format: 'docker' as const };
    [multi, single] = await Promise.all([
      buildImage(join(root, 'built-multi'), { ...small, seed: 1101, platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }] }),
      buildImage(join(root, 'built-single'), { ...small, seed: 1102 }),
    ]);
    // The reference for onward copies: skopeo's own oci: copy of the originals (schema2 → OCI conversion
    // rewrites the config as an OCI config, so config digests are those of the converted image).
    const reference = async (image: BuiltImage, kind: 'multi' | 'single') => {
      const dir = join(root, `reference-${kind}`);
      await skopeoOk('copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${http().host}/src/${kind}:v1`, `oci:${dir}:x`);
      const facts = await ociLayoutFacts(dir);
      expect(facts.map((f) => [f.platform, f.diffIds]), 'reference diff IDs').to.deep.equal(builtFacts(image).map((f) => [f.platform, f.diffIds]));
      return facts;
    };
    diffIds = new Set([multi, single].flatMap((i) => i.manifests.flatMap((m) => m.layers.map((l) => l.diffId))));
    for (const t of conformanceTransports({ root, http: http(), token: token(), containersStorage: IDS.includes('containers-storage') })) rows.set(t.id, t);

    await Promise.all([
      pushImage(multi, http(), 'src/multi:v1'),
      pushImage(single, http(), 'src/single:v1'),
      pushImage(multi, token(), 'src/multi:v1'),
      pushImage(single, token(), 'src/single:v1'),
    ]);
    [multiFacts, singleFacts] = await Promise.all([reference(multi, 'multi'), reference(single, 'single')]);
    const fixture = async (t: ConformanceTransport, ref: string): Promise<Fixture> => {
      const bytes = await rawBySkopeo(t, ref);
      return { ref, bytes, digest: sha256(bytes), mediaType: parseManifest(bytes).mediaType ?? '' };
    };
    await Promise.all(
      [...rows.values()].map(async (t) => {
        const make = async (kind: 'multi' | 'single') => {
          if (t.id === 'docker') return fixture(t, `docker://${http().host}/src/${kind}:v1`);
          if (t.id === 'docker(token)') return fixture(t, `docker://${token().host}/src/${kind}:v1`);
          const ref = await t.newRef(`src-${kind}`);
          await skopeoOk('copy', '--quiet', ...(kind === 'multi' ? ['--all'] : []), '--src-tls-verify=false', `docker://${http().host}/src/${kind}:v1`, ref);
          return fixture(t, ref);
        };
        fixtures.set(t.id, { single: await make('single'), ...(t.holdsIndex ? { multi: await make('multi') } : {}) });
      }),
    );
  });

  after(() => {
    if (root) removeStore(root);
  });

  /** Every check of one ordered pair. */
  async function conform(src: ConformanceTransport, dest: ConformanceTransport): Promise<void> {
    const kind = src.holdsIndex && dest.holdsIndex ? 'multi' : 'single';
    const fx = fixtures.get(src.id)![kind]!;
    const expected = kind === 'multi' ? multiFacts : singleFacts;
    const all = kind === 'multi' ? ['--all'] : [];
    const label = `${src.id}-${dest.id}`;
    const ferryDest = await dest.newRef(`${label}-ferry`);
    const skopeoDest = await dest.newRef(`${label}-skopeo`);
    const digestFile = join(root, `${label.replace(/[^a-z-]/g, '')}.digest`);
    const copyArgs = ['copy', '--quiet', ...all, ...src.flags('src-'), ...dest.flags('dest-')];

    // The same copy by ferry (in-process) and by skopeo.
    await Promise.all([
      ferryOk(...copyArgs, '--digestfile', `${digestFile}.ferry`, fx.ref, ferryDest),
      skopeoOk(...copyArgs, '--digestfile', `${digestFile}.skopeo`, fx.ref, skopeoDest),
    ]);

    // Both read both results, byte for byte.
    const [fByFerry, fBySkopeo, sByFerry, sBySkopeo] = await Promise.all([
      rawByFerry(dest, ferryDest),
      rawBySkopeo(dest, ferryDest),
      rawByFerry(dest, skopeoDest),
      rawBySkopeo(dest, skopeoDest),
    ]);
    expect(fByFerry.toString(), "ferry and skopeo read ferry's result alike").to.equal(fBySkopeo.toString());
    expect(sByFerry.toString(), "ferry reads skopeo's result as skopeo does").to.equal(sBySkopeo.toString());
    const digest = sha256(fBySkopeo);
    // skopeo 1.9 keeps the stored gzip media types on the uncompressed layers containers-storage serves.
    const skopeoMislabels = src.id === 'containers-storage' && !compresses(dest) ? diffIds : undefined;
    const same = expectSameManifest(fBySkopeo, sBySkopeo, `${src.id} → ${dest.id}`, { skopeoMislabels, sourceLayers: servedLayers(src, fx, expected[0]!.diffIds) });
    // --digestfile names the manifest the copy wrote (for docker-archive: before the archive re-synthesizes it).
    const [ferryDigest, skopeoDigest] = await Promise.all([readFile(`${digestFile}.ferry`, 'utf8'), readFile(`${digestFile}.skopeo`, 'utf8')]);
    if (same === 'identical' && !skopeoMislabels) expect(ferryDigest, '--digestfile').to.equal(skopeoDigest);
    if (!dest.synthesizes) expect(ferryDigest, '--digestfile').to.equal(digest);

    if (keepsDigest(src, dest, fx)) {
      expect(digest, 'manifest digest kept').to.equal(fx.digest);
    } else {
      expect(digest, 'manifest digest changes (skopeo changes it too)').to.not.equal(fx.digest);
    }
    if (dest.synthesizes) {
      const m = parseManifest(fBySkopeo);
      expect(m.mediaType).to.equal(MediaType.DockerManifest);
      expect(m.config?.digest, 'config digest').to.equal(parseManifest(fx.bytes).config?.digest);
      expect(m.layers?.map((l) => l.digest), 'uncompressed layers named by diff ID').to.deep.equal(expected[0]!.diffIds);
    }

    // Interop onward: skopeo copies ferry's result to oci:, ferry copies skopeo's result to oci:.
    const onSkopeo = await makeTempDir('conformance-onward-skopeo');
    const onFerry = await makeTempDir('conformance-onward-ferry');
    try {
      await Promise.all([
        skopeoOk('copy', '--quiet', ...all, ...dest.flags('src-'), ferryDest, `oci:${onSkopeo}:x`),
        ferryOk('copy', '--quiet', ...all, ...dest.flags('src-'), skopeoDest, `oci:${onFerry}:x`),
      ]);
      expect(await ociLayoutFacts(onSkopeo), "skopeo copying ferry's result onward to oci: keeps config digests and diff IDs").to.deep.equal(expected);
      expect(await ociLayoutFacts(onFerry), "ferry copying skopeo's result onward to oci: keeps config digests and diff IDs").to.deep.equal(expected);
    } finally {
      removeStore(onSkopeo);
      removeStore(onFerry);
    }
  }

  for (const s of IDS) {
    for (const d of IDS) {
      if ((s === 'docker(token)' && !TOKEN_PARTNERS.has(d)) || (d === 'docker(token)' && !TOKEN_PARTNERS.has(s))) continue;
      it(`${s} → ${d}`, async () => conform(rows.get(s)!, rows.get(d)!));
    }
  }
});
