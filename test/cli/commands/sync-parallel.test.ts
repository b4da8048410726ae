/**
 * ferry sync at scale against a real registry with htpasswd (bcrypt) auth over TLS: images already at the destination
 * are skipped with one manifest HEAD each (checked in the registry's own access log), indexes too; a copy that would
 * change the manifest is never skipped; `--report` lists every image in source order; a failing image does not stop
 * the others under `--keep-going`.
 */
import { expect } from 'chai';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { registryAuthorization, registryDispatcher } from '../../harness/push.js';
import { logMark, loggedRequests, useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';
import { startFaultProxy } from '../../harness/fault-proxy.js';

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

describe('cli: ferry sync skips what is there, in parallel (htpasswd registry, access log)', function () {
  this.timeout(60_000);
  const registry = useRegistry('basic');
  const cleanup = useCleanup();
  const repos = ['src/a', 'src/b'];
  const tags = ['v1', 'v2', 'v3'];
  const images = new Map<string, BuiltImage>();
  let multi: BuiltImage;
  let dir: string;
  let yamlFile: string;

  const host = () => registry().host;
  const dest = () => ['--dest-cert-dir', registry().certDir!, '--dest-creds', `${registry().username}:${registry().password}`];
  const src = () => ['--src-cert-dir', registry().certDir!, '--src-creds', `${registry().username}:${registry().password}`];

  const logged = (from: number) => loggedRequests(registry(), from);
  const logSize = () => logMark(registry());
  /** Client connections (remote address and port) of the requests logged from byte `from` on. */
  async function connections(from: number): Promise<number> {
    const log = (await readFile(registry().logFile)).subarray(from).toString('utf8');
    return new Set([...log.matchAll(/http\.request\.remoteaddr="([^"]+)"/g)].map((m) => m[1])).size;
  }

  async function remoteDigest(repo: string, tag: string): Promise<string | undefined> {
    const reg = registry();
    const authorization = await registryAuthorization(reg, repo, ['pull']);
    const dispatcher = registryDispatcher(reg);
    const r = await dispatcher.request({
      origin: reg.url,
      path: `/v2/${repo}/manifests/${tag}`,
      method: 'HEAD',
      headers: { accept: ACCEPT, ...(authorization ? { authorization } : {}) },
    });
    await r.body.dump();
    if (r.statusCode === 404) return undefined;
    expect(r.statusCode).to.equal(200);
    return r.headers['docker-content-digest'] as string;
  }

  before(async () => {
    dir = await cleanup.tempDir('cli-sync-parallel');
    await writeFile(join(dir, 'empty.conf'), '');
    process.env['CONTAINERS_REGISTRIES_CONF'] = join(dir, 'empty.conf');
    let seed = 300;
    for (const repo of repos) {
      for (const tag of tags) {
        const img = await buildImage(join(dir, 'img', repo, tag), { seed: seed++, layers: 2, layerSize: 1_500 });
        images.set(`${repo}:${tag}`, img);
        await pushImage(img, registry(), `${repo}:${tag}`);
      }
    }
    multi = await buildImage(join(dir, 'img', 'multi'), {
      seed: 350,
      layers: 1,
      layerSize: 1_000,
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
    });
    await pushImage(multi, registry(), 'multi/app:1');
    yamlFile = join(dir, 'sync.yaml');
    await writeFile(
      yamlFile,
      [
        `${host()}:`,
        `  cert-dir: ${registry().certDir}`,
        '  credentials:',
        `    username: ${registry().username}`,
        `    password: ${registry().password}`,
        '  images:',
        ...repos.map((r) => `    ${r}: []`),
        '',
      ].join('\n'),
    );
  });
  after(() => {
    delete process.env['CONTAINERS_REGISTRIES_CONF'];
  });

  it('a re-sync of unchanged tags: no blob request, no manifest PUT, one manifest HEAD per tag; one ping, one tag list per repository', async () => {
    const first = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', ...dest(), yamlFile, `${host()}/mirror`]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stderr).to.not.contain('Skipped');
    for (const repo of repos) {
      for (const tag of tags) expect(await remoteDigest(`mirror/${repo.split('/')[1]}`, tag)).to.equal(images.get(`${repo}:${tag}`)!.digest);
    }

    const from = await logSize();
    const reportFile = join(dir, 'resync.jsonl');
    const again = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--report', reportFile, ...dest(), yamlFile, `${host()}/mirror`]);
    expect(again.code, again.stderr).to.equal(0);
    const lines = again.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).to.equal('Synced 6 images from 2 sources');
    for (const repo of repos) {
      const name = repo.split('/')[1]!;
      for (const [i, tag] of tags.entries()) {
        expect(lines).to.include(
          `Skipped image ref ${i + 1}/3 from docker://${host()}/${repo}:${tag} to docker://${host()}/mirror/${name}:${tag}: image already present at destination`,
        );
      }
    }

    const reqs = await logged(from);
    const shown = reqs.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n');
    expect(reqs.filter((r) => r.path.includes('/blobs/')), shown).to.deep.equal([]);
    expect(reqs.filter((r) => r.method !== 'GET' && r.method !== 'HEAD'), shown).to.deep.equal([]);
    for (const repo of repos) {
      const name = repo.split('/')[1]!;
      for (const tag of tags) {
        const atDest = reqs.filter((r) => r.path === `/v2/mirror/${name}/manifests/${tag}`);
        expect(atDest, `${name}:${tag}\n${shown}`).to.have.length(1);
        expect(reqs.filter((r) => r.path === `/v2/${repo}/manifests/${tag}`), shown).to.have.length(1);
      }
      expect(reqs.filter((r) => r.path.startsWith(`/v2/${repo}/tags/list`)), shown).to.have.length(1);
    }
    // one ping for the whole job (source and destination share the registry's connections), and no other 401
    expect(reqs.filter((r) => r.path === '/v2/'), shown).to.have.length(1);
    expect(reqs.filter((r) => r.status === 401 && r.path !== '/v2/'), shown).to.deep.equal([]);
    expect(reqs, shown).to.have.length(1 + repos.length * (1 + 2 * tags.length));
    // The images share the job's connections (TLS handshakes), not a set per image: one image at a time sends one
    // request at a time, so one connection serves the whole re-sync (2 more allowed for the client closing an idle
    // one under load); a pool per image would open one per image (6 here) at least.
    const serial = await logSize();
    const one = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--parallel-images', '1', ...dest(), yamlFile, `${host()}/mirror`]);
    expect(one.code, one.stderr).to.equal(0);
    expect(await connections(serial), shown).to.be.within(1, 3);

    const report = (await readFile(reportFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(report.map((e) => [e['source'], e['action'], e['digest'], e['bytes'], e['error']])).to.deep.equal(
      repos.flatMap((repo) => tags.map((tag) => [`docker://${host()}/${repo}:${tag}`, 'skipped', images.get(`${repo}:${tag}`)!.digest, 0, ''])),
    );
    expect(report[0]!['destination']).to.equal(`docker://${host()}/mirror/a:v1`);
    expect(report[0]!['seconds']).to.be.a('number');
  });

  it('a cold sync of images sharing layers: every blob is mounted from where the cache saw it, with no HEAD before, nothing uploaded', async () => {
    const img = await buildImage(join(dir, 'img', 'cold'), { seed: 360, layers: 3, layerSize: 1_000 });
    const coldRepos = ['cold/x', 'cold/y'];
    for (const repo of coldRepos) for (const tag of ['c1', 'c2', 'c3']) await pushImage(img, registry(), `${repo}:${tag}`);
    const file = join(dir, 'cold.yaml');
    await writeFile(
      file,
      [`${host()}:`, `  cert-dir: ${registry().certDir}`, '  credentials:', `    username: ${registry().username}`, `    password: ${registry().password}`, '  images:', ...coldRepos.map((r) => `    ${r}: []`), ''].join('\n'),
    );
    // a first sync teaches the blob-location cache where the blobs are
    const first = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', ...dest(), file, `${host()}/cold1`]);
    expect(first.code, first.stderr).to.equal(0);
    const from = await logSize();
    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', ...dest(), file, `${host()}/cold2`]);
    expect(r.code, r.stderr).to.equal(0);
    const reqs = (await logged(from)).filter((q) => q.path.includes('/blobs/'));
    const shown = reqs.map((q) => `${q.method} ${q.path} ${q.status}`).join('\n');
    expect(reqs.filter((q) => q.method === 'HEAD' && q.status !== 200), shown).to.deep.equal([]);
    expect(reqs.filter((q) => q.method === 'PUT' || q.method === 'PATCH' || q.method === 'GET' || q.method === 'DELETE'), shown).to.deep.equal([]);
    const mounts = reqs.filter((q) => q.method === 'POST');
    expect(mounts.every((q) => q.status === 201 && q.path.includes('mount=')), shown).to.equal(true);
    const blobs = [img.manifests[0]!.configDigest, ...img.manifests[0]!.layers.map((l) => l.digest)];
    const mounted = new Set(mounts.map((q) => `${q.path.split('/blobs/')[0]} ${decodeURIComponent(/mount=([^&]+)/.exec(q.path)![1]!)}`));
    expect([...mounted].sort(), shown).to.deep.equal(['x', 'y'].flatMap((n) => blobs.map((b) => `/v2/cold2/${n} ${b}`)).sort());
    for (const n of ['x', 'y']) expect(await remoteDigest(`cold2/${n}`, 'c3')).to.equal(img.digest);
  });

  it('a changed tag is copied, the unchanged ones skipped; a copy that would change the manifest (--format) is never skipped', async () => {
    const changed = await buildImage(join(dir, 'img', 'changed'), { seed: 399, layers: 1, layerSize: 1_200 });
    await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...src(), ...dest(), `${host()}/src/a`, `${host()}/changed`]);
    await pushImage(changed, registry(), 'src/a:v2');
    const reportFile = join(dir, 'changed.jsonl');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--report', reportFile, ...src(), ...dest(), `${host()}/src/a`, `${host()}/changed`]);
    expect(r.code, r.stderr).to.equal(0);
    const report = (await readFile(reportFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(report.map((e) => e['action'])).to.deep.equal(['skipped', 'copied', 'skipped']);
    expect(report[1]!['digest']).to.equal(changed.digest);
    // its blobs are mounted from the source repository, on the same registry: no byte moves
    expect(report[1]!['bytes']).to.equal(0);
    expect(await remoteDigest('changed/a', 'v2')).to.equal(changed.digest);

    // the destination holds the source's OCI manifests; converting them must copy, not skip
    const v2s2 = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--format', 'v2s2', ...src(), ...dest(), `${host()}/src/a`, `${host()}/changed`]);
    expect(v2s2.code, v2s2.stderr).to.equal(0);
    expect(v2s2.stderr).to.not.contain('Skipped');
    const converted = await remoteDigest('changed/a', 'v1');
    expect(converted).to.not.equal(images.get('src/a:v1')!.digest);
    // (src/a:v2 back as it was, for the other tests)
    await pushImage(images.get('src/a:v2')!, registry(), 'src/a:v2');
  });

  it('indexes: --all and --platform skip on a re-sync, with no blob request and no PUT', async () => {
    for (const [ns, flags] of [
      ['all', ['--all']],
      ['subset', ['--platform', 'linux/arm64/v8']],
    ] as const) {
      const first = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...flags, ...src(), ...dest(), `${host()}/multi/app:1`, `${host()}/${ns}`]);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stderr, ns).to.not.contain('Skipped');
      const from = await logSize();
      const again = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...flags, ...src(), ...dest(), `${host()}/multi/app:1`, `${host()}/${ns}`]);
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stderr, ns).to.contain(`Skipped image ref 1/1 from docker://${host()}/multi/app:1 to docker://${host()}/${ns}/app:1: image already present at destination`);
      const reqs = await logged(from);
      const shown = reqs.map((q) => `${q.method} ${q.path} ${q.status}`).join('\n');
      expect(reqs.filter((q) => q.path.includes('/blobs/') || (q.method !== 'GET' && q.method !== 'HEAD')), shown).to.deep.equal([]);
      expect(reqs.filter((q) => q.path.startsWith(`/v2/${ns}/`)), shown).to.have.length(1);
    }
    expect(await remoteDigest('all/app', '1')).to.equal(multi.digest);
    expect(await remoteDigest('subset/app', '1')).to.not.equal(multi.digest);
  });

  it('--keep-going with images in parallel: a failing image stops no other; the report lists all in source order; exit 1', async () => {
    const file = join(dir, 'keep.yaml');
    await mkdir(join(dir, 'reports'), { recursive: true });
    await writeFile(
      file,
      [
        `${host()}:`,
        `  cert-dir: ${registry().certDir}`,
        '  credentials:',
        `    username: ${registry().username}`,
        `    password: ${registry().password}`,
        '  images:',
        '    src/a: [v1, missing, v3]',
        '    src/nope: []',
        '    src/b: [v2]',
        '',
      ].join('\n'),
    );
    const reportFile = join(dir, 'reports', 'keep.jsonl');
    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--keep-going', '--parallel-images', '3', '--report', reportFile, ...dest(), file, `${host()}/keep`]);
    expect(r.code, r.stderr).to.equal(1);
    const report = (await readFile(reportFile, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(report.map((e) => [e['source'], e['action']])).to.deep.equal([
      [`docker://${host()}/src/a:v1`, 'copied'],
      [`docker://${host()}/src/a:missing`, 'failed'],
      [`docker://${host()}/src/a:v3`, 'copied'],
      [`${host()}/src/nope`, 'failed'],
      [`docker://${host()}/src/b:v2`, 'copied'],
    ]);
    expect(report[1]!['error']).to.match(/missing/);
    expect(report[3]!['error']).to.not.equal('');
    expect(await remoteDigest('keep/a', 'v3')).to.equal(images.get('src/a:v3')!.digest);
    expect(await remoteDigest('keep/b', 'v2')).to.equal(images.get('src/b:v2')!.digest);
    expect(r.stderr.trimEnd().split('\n').at(-1)).to.equal(
      `Error: Sync failed for 2 images or sources (3 images synced): docker://${host()}/src/a:missing, ${host()}/src/nope`,
    );
  });

  it('--report refuses a path that is not a regular file; --parallel-images must be positive', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--report', dir, ...src(), ...dest(), `${host()}/src/a`, `${host()}/x`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/report file .* is not a regular file/);
    const p = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--parallel-images', '0', `${host()}/src/a`, `${host()}/x`]);
    expect(p.code).to.equal(1);
    expect(p.stderr).to.contain('--parallel-images must be a positive integer');
  });
});

describe('cli: ferry sync asks for one token per repository and scope (token registry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('token');
  const cleanup = useCleanup();
  const tags = ['t1', 't2', 't3', 't4'];

  it('a sync of 4 tags of 2 repositories: one pull token per source repository, one pull,push token per destination repository, none twice', async () => {
    const reg = registry();
    const dir = await cleanup.tempDir('cli-sync-tokens');
    for (const [i, tag] of tags.entries()) {
      const img = await buildImage(join(dir, tag), { seed: 500 + i, layers: 1, layerSize: 800 });
      await pushImage(img, reg, `tok/one:${tag}`, { username: reg.username, password: reg.password });
      await pushImage(img, reg, `tok/two:${tag}`, { username: reg.username, password: reg.password });
    }
    await writeFile(join(dir, 'empty.conf'), '');
    const yamlFile = join(dir, 'sync.yaml');
    await writeFile(
      yamlFile,
      [`${reg.host}:`, `  cert-dir: ${reg.certDir}`, '  credentials:', `    username: ${reg.username}`, `    password: ${reg.password}`, '  images:', '    tok/one: []', '    tok/two: []', ''].join('\n'),
    );
    const before = reg.tokenServer!.requests.length;
    const creds = ['--dest-cert-dir', reg.certDir!, '--dest-creds', `${reg.username}:${reg.password}`];
    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', ...creds, yamlFile, `${reg.host}/copy`], { env: { CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf') } });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr.trimEnd().split('\n').at(-1)).to.equal('Synced 8 images from 2 sources');
    const scopes = reg.tokenServer!.requests.slice(before).map((q) => q.scope.join(' ')).sort();
    // no scope set asked for twice (a blob mounted from the other destination repository needs one more set)
    expect(scopes).to.deep.equal([...new Set(scopes)]);
    expect(scopes).to.include.members(['repository:copy/one:pull,push', 'repository:copy/two:pull,push', 'repository:tok/one:pull', 'repository:tok/two:pull']);
    expect(scopes.filter((s) => s.startsWith('repository:tok/'))).to.have.length(2);
  });
});

describe('cli: ferry sync with images in parallel into one repository (plain registry behind the fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();

  it('each shared blob is uploaded once; the other images wait for it and find it there', async () => {
    const dir = await cleanup.tempDir('cli-sync-shared-blobs');
    // four ref names of one image in an OCI layout (nothing to mount from): all four copies need every blob
    const img = await buildImage(join(dir, 'img'), { seed: 377, tag: 'app:t1', layers: 3, layerSize: 200_000 });
    for (const tag of ['t2', 't3', 't4']) {
      const c = await ferry(['copy', '--quiet', `oci:${img.layoutDir}:app:t1`, `oci:${img.layoutDir}:app:${tag}`]);
      expect(c.code, c.stderr).to.equal(0);
    }
    // every upload takes a while to finish, so all four copies reach their blobs while the first uploads still run
    const front = cleanup.track(await startFaultProxy(registry().url, (q) => (q.method === 'PUT' && q.path.includes('/blobs/uploads/') ? { kind: 'delay', ms: 500 } : undefined)));
    const r = await ferry(['sync', '--src', 'oci', '--dest', 'docker', '--parallel-images', '4', '--dest-tls-verify=false', img.layoutDir, `${front.host}/shared`]);
    expect(r.code, r.stderr).to.equal(0);
    const shown = front.requests.map((q) => `${q.method} ${q.path}`).join('\n');
    // an upload (or a mount) starts with a POST to the repository's uploads: one per blob of the image
    const starts = front.requests.filter((q) => q.method === 'POST' && q.path.startsWith('/v2/shared/app/blobs/uploads/'));
    expect(starts, shown).to.have.length(img.manifests[0]!.layers.length + 1);
    expect(front.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/shared/app/manifests/')), shown).to.have.length(4);
  });
});

describe('cli: ferry sync in parallel into one repository whose registry answers blob checks with 500 (fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  let img: BuiltImage;

  before(async () => {
    const dir = await cleanup.tempDir('cli-sync-head500');
    img = await buildImage(join(dir, 'img'), { seed: 379, tag: 'app:t1', layers: 2, layerSize: 20_000 });
    for (const tag of ['t2', 't3', 't4']) {
      const c = await ferry(['copy', '--quiet', `oci:${img.layoutDir}:app:t1`, `oci:${img.layoutDir}:app:${tag}`]);
      expect(c.code, c.stderr).to.equal(0);
    }
  });
  const blobHead = (q: { method: string; path: string }) => q.method === 'HEAD' && q.path.includes('/blobs/sha256:');

  it('a 500 to the first check of each blob is retried: every image is copied', async () => {
    const front = cleanup.track(await startFaultProxy(registry().url, (q) => (blobHead(q) && q.pathCount === 1 ? { kind: 'status', status: 500 } : undefined)));
    const r = await ferry(['sync', '--src', 'oci', '--dest', 'docker', '--parallel-images', '4', '--retry-delay', '10ms', '--dest-tls-verify=false', img.layoutDir, `${front.host}/h500`]);
    expect(r.code, r.stderr).to.equal(0);
    const shown = front.requests.map((q) => `${q.method} ${q.path}`).join('\n');
    expect(front.requests.filter(blobHead).length, shown).to.be.greaterThan(img.manifests[0]!.layers.length + 1);
    expect(front.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/h500/app/manifests/')), shown).to.have.length(4);
  });

  it('a 500 to every check fails the sync after the bounded retries, with one error line naming the blob; exit 1', async () => {
    const front = cleanup.track(await startFaultProxy(registry().url, (q) => (blobHead(q) ? { kind: 'status', status: 500 } : undefined)));
    const r = await ferry(['sync', '--src', 'oci', '--dest', 'docker', '--parallel-images', '1', '--retry-times', '2', '--retry-delay', '10ms', '--dest-tls-verify=false', `${img.layoutDir}`, `${front.host}/h500all`]);
    expect(r.code, r.stderr).to.equal(1);
    const failed = r.stderr.split('\n').filter((l) => l.startsWith('Error:'));
    expect(failed, r.stderr).to.have.length(1);
    expect(failed[0], r.stderr).to.match(
      /^Error: copying oci:\S+: checking whether a blob sha256:[0-9a-f]{64} exists in 127\.0\.0\.1:\d+\/h500all\/app: unexpected HTTP status 500$/,
    );
    // the failing blob's check and its 2 retries at least
    expect(front.requests.filter(blobHead).length, r.stderr).to.be.at.least(3);
    expect(front.requests.filter((q) => q.method === 'PUT' && q.path.includes('/manifests/')), r.stderr).to.deep.equal([]);
  });
});

describe('cli: ferry sync with tags of one multi-platform image in parallel into one repository (fault proxy)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();

  it('each instance manifest is written once; the other images find it there', async () => {
    const dir = await cleanup.tempDir('cli-sync-shared-manifests');
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ];
    const img = await buildImage(join(dir, 'img'), { seed: 378, tag: 'app:t1', layers: 1, layerSize: 20_000, platforms });
    for (const tag of ['t2', 't3', 't4']) {
      const c = await ferry(['copy', '--quiet', '--all', `oci:${img.layoutDir}:app:t1`, `oci:${img.layoutDir}:app:${tag}`]);
      expect(c.code, c.stderr).to.equal(0);
    }
    // every manifest PUT by digest takes a while, so all four copies reach their instances while the first are written
    const front = cleanup.track(await startFaultProxy(registry().url, (q) => (q.method === 'PUT' && q.path.includes('/manifests/sha256:') ? { kind: 'delay', ms: 500 } : undefined)));
    const r = await ferry(['sync', '--src', 'oci', '--dest', 'docker', '--all', '--parallel-images', '4', '--dest-tls-verify=false', img.layoutDir, `${front.host}/shared`]);
    expect(r.code, r.stderr).to.equal(0);
    const shown = front.requests.map((q) => `${q.method} ${q.path}`).join('\n');
    const instances = front.requests.filter((q) => q.method === 'PUT' && q.path.startsWith('/v2/shared/app/manifests/sha256:'));
    expect(instances, shown).to.have.length(platforms.length);
    expect(front.requests.filter((q) => q.method === 'PUT' && /^\/v2\/shared\/app\/manifests\/t\d$/.test(q.path)), shown).to.have.length(4);
  });
});
