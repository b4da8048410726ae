/**
 * ferry sync --prune against a real registry (deletes enabled): exactly the tags the source no longer has go, the
 * --prune-max limit refuses a repository as a whole, a digest a kept tag shares is left, repositories outside the
 * sync are untouched. The real bin/ferry, for exit statuses.
 */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, ferryProcess } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../../harness/fault-proxy.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';
import { shardOf } from '../../../src/sync/shard.js';

const ACCEPT = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json'].join(', ');

describe('cli: ferry sync --prune (real registry)', function () {
  this.timeout(60_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  const img = new Map<string, BuiltImage>();
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let dir: string;
  const host = () => registry().host;
  const env = () => ({ CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf'), HOME: dir });

  async function tags(repo: string): Promise<string[]> {
    const r = await fetch(`${registry().url}/v2/${repo}/tags/list`);
    if (r.status === 404) return [];
    return (((await r.json()) as { tags: string[] | null }).tags ?? []).sort();
  }
  async function digest(repo: string, tag: string): Promise<string | undefined> {
    const r = await fetch(`${registry().url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
    return r.status === 200 ? (r.headers.get('docker-content-digest') ?? undefined) : undefined;
  }
  /** A destination namespace `ns`: `ns/app` with what the source has and `extra` tags, and `ns/other:x` (outside the sync). */
  async function seed(ns: string, extra: Record<string, string>): Promise<void> {
    for (const [tag, name] of Object.entries({ v1: 'a', v2: 'b', v3: 'c', ...extra })) await pushImage(img.get(name)!, registry(), `${ns}/app:${tag}`);
    await pushImage(img.get('e')!, registry(), `${ns}/other:x`);
  }

  /** A fault proxy in front of the registry, answering `tags/list` of `repo` with `tags` (stopped after the test). */
  async function listing(repo: string, tagList: string[]): Promise<FaultProxy> {
    const proxy = await startFaultProxy(registry().url, (req) =>
      req.method === 'GET' && req.path.split('?')[0] === `/v2/${repo}/tags/list`
        ? { kind: 'status', status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: repo, tags: tagList }) }
        : undefined,
    );
    cleanup.defer(() => proxy.stop());
    return proxy;
  }

  before(async () => {
    dir = await cleanup.tempDir('cli-sync-prune');
    await writeFile(join(dir, 'empty.conf'), '');
    for (const [i, name] of ['a', 'b', 'c', 'd', 'e', 'f'].entries()) img.set(name, await buildImage(join(dir, name), { seed: 950 + i, layers: 1, layerSize: 1_000 }));
    for (const [tag, name] of [['v1', 'a'], ['v2', 'b'], ['v3', 'c']] as const) await pushImage(img.get(name)!, registry(), `src/app:${tag}`);
  });

  it('deletes exactly the tags the source no longer has; keeps a digest a kept tag shares; leaves other repositories', async () => {
    // 5 tags: the default limit is 10 % rounded down, at least 1; old2 is v1's image
    await seed('p1', { old1: 'd', old2: 'a' });
    const report = join(dir, 'p1.jsonl');
    const r = await ferryProcess(['sync', '--src', 'docker', '--dest', 'docker', '--prune', '--report', report, '--progress', 'json', ...tls, `${host()}/src/app`, `${host()}/p1`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(await tags('p1/app')).to.deep.equal(['old2', 'v1', 'v2', 'v3']);
    expect(await digest('p1/app', 'v1')).to.equal(img.get('a')!.digest);
    expect(await digest('p1/app', 'old1')).to.equal(undefined);
    expect(await tags('p1/other')).to.deep.equal(['x']);
    expect(r.stderr).to.contain(`Warning: not pruning docker://${host()}/p1/app:old2: not in source, but its manifest ${img.get('a')!.digest} is also that of tag v1, which is kept`);
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.filter((e) => e['kind'] === 'sync-prune-done')).to.deep.equal([
      { kind: 'sync-prune-done', to: `docker://${host()}/p1/app:old1`, action: 'pruned', digest: img.get('d')!.digest, seconds: events.find((e) => e['kind'] === 'sync-prune-done')!['seconds'] },
    ]);
    const lines = (await readFile(report, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['action'])).to.deep.equal(['skipped', 'skipped', 'skipped', 'pruned']);
    expect(lines.at(-1)).to.deep.include({ source: '', destination: `docker://${host()}/p1/app:old1`, digest: img.get('d')!.digest, action: 'pruned', bytes: 0, error: '' });
  });

  it('refuses a repository over --prune-max (nothing deleted there, exit 1); a higher limit lets it go', async () => {
    await seed('p2', { old1: 'd', old3: 'e' });
    const args = ['sync', '--src', 'docker', '--dest', 'docker', '--prune', ...tls, `${host()}/src/app`, `${host()}/p2`];
    const r = await ferryProcess(args, { env: env() });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr.trimEnd().split('\n').at(-1)).to.equal(
      `Error: refusing to prune 2 tags of ${host()}/p2/app: more than the limit of 1 (--prune-max 10% of 5 tags); nothing deleted there`,
    );
    expect(await tags('p2/app')).to.deep.equal(['old1', 'old3', 'v1', 'v2', 'v3']);

    // the dry run lists what would go, and deletes nothing
    const plan = await ferry([...args.slice(0, 5), '--prune-max', '40%', '--dry-run', '--output', 'json', ...args.slice(5)], { env: env() });
    expect(plan.code, plan.stderr).to.equal(0);
    const doc = JSON.parse(plan.stdout) as { prune: Array<{ repository: string; limit: number; refused: string; candidates: Array<{ action: string; destination: string }> }>; totals: { prune: number } };
    expect(doc.prune).to.have.length(1);
    expect(doc.prune[0]).to.deep.include({ repository: `${host()}/p2/app`, limit: 2, refused: '' });
    expect(doc.prune[0]!.candidates.map((c) => `${c.action} ${c.destination}`)).to.deep.equal([`prune docker://${host()}/p2/app:old1`, `prune docker://${host()}/p2/app:old3`]);
    expect(doc.totals.prune).to.equal(2);
    expect(await tags('p2/app')).to.deep.equal(['old1', 'old3', 'v1', 'v2', 'v3']);

    const ok = await ferryProcess([...args.slice(0, 5), '--prune-max', '2', ...args.slice(5)], { env: env() });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stderr).to.contain(`Pruned docker://${host()}/p2/app:old1: ${img.get('d')!.digest} (not in source)`);
    expect(await tags('p2/app')).to.deep.equal(['v1', 'v2', 'v3']);
    expect(await tags('p2/other')).to.deep.equal(['x']);
  });

  it('never deletes an image the sync copies by digest, which no tag names (a stale tag sharing its digest is kept)', async () => {
    // src/pin: v1, and d under a tag the regex does not cover; d is synced by its digest
    await pushImage(img.get('a')!, registry(), 'src/pin:v1');
    await pushImage(img.get('d')!, registry(), 'src/pin:by-digest');
    for (const [tag, name] of [['v1', 'a'], ['v9', 'd']] as const) await pushImage(img.get(name)!, registry(), `p9/pin:${tag}`);
    const d = img.get('d')!.digest;
    const yaml = join(dir, 'p9.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images-by-tag-regex:\n    src/pin: '^v'\n  images:\n    src/pin: ['${d}']\n`);
    const r = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/p9`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`not pruning docker://${host()}/p9/pin:v9: not in source, but its manifest ${d} is also that of the image synced by digest ${d}, which is kept`);
    expect(await digest('p9/pin', d)).to.equal(d);
    expect(await tags('p9/pin')).to.deep.equal(['v1', 'v9']);
  });

  it('a YAML tag list never prunes; a tag regex prunes only the tags it covers; --prune needs --dest docker', async () => {
    await seed('p3', { old1: 'd', 'x-keep': 'e' });
    const yaml = join(dir, 'p3.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images:\n    src/app: [v1]\n`);
    const listed = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/p3`], { env: env() });
    expect(listed.code, listed.stderr).to.equal(0);
    expect(await tags('p3/app')).to.deep.equal(['old1', 'v1', 'v2', 'v3', 'x-keep']);
    // the regex covers v* and old*, not x-keep
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images-by-tag-regex:\n    src/app: '^(v|old)'\n`);
    const regex = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/p3`], { env: env() });
    expect(regex.code, regex.stderr).to.equal(0);
    expect(await tags('p3/app')).to.deep.equal(['v1', 'v2', 'v3', 'x-keep']);

    const d = await ferry(['sync', '--src', 'docker', '--dest', 'dir', '--prune', ...tls, `${host()}/src/app`, join(dir, 'out')]);
    expect(d.code).to.equal(1);
    expect(d.stderr).to.contain('--prune applies only to --dest docker');
    const m = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--prune', '--prune-max', 'ten', ...tls, `${host()}/src/app`, `${host()}/p3`]);
    expect(m.code).to.equal(1);
    expect(m.stderr).to.contain('--prune-max must be a number of tags (N) or a percentage (P%');
  });

  it('never prunes a tag --exclude leaves out of the sync (the source still has it)', async () => {
    await seed('p4', { old1: 'd' });
    const r = await ferryProcess(['sync', '--src', 'docker', '--dest', 'docker', '--prune', '--prune-max', '100%', '--exclude', 'src/app:v2', ...tls, `${host()}/src/app`, `${host()}/p4`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(await tags('p4/app')).to.deep.equal(['v1', 'v2', 'v3']);

    // a YAML registry's exclude: the entry's own left-out tags do not stop it pruning its destination
    await pushImage(img.get('d')!, registry(), 'p4/app:old1');
    const yaml = join(dir, 'p4.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  exclude: ['src/app:v2']\n  images:\n    src/app: []\n`);
    const y = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/p4`], { env: env() });
    expect(y.code, y.stderr).to.equal(0);
    expect(y.stderr).to.not.contain('Warning');
    expect(await tags('p4/app')).to.deep.equal(['v1', 'v2', 'v3']);
  });

  it('an empty source listing (a registry answering [] after a failure) prunes nothing, with a line saying why; a page it refuses fails the listing', async () => {
    await seed('p5', { old1: 'd' });
    const proxy = await listing('src/app', []);
    const yaml = join(dir, 'p5.yaml');
    await writeFile(yaml, `${proxy.host}:\n  tls-verify: false\n  images:\n    src/app: []\n`);
    const r = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/p5`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`Warning: not pruning ${host()}/p5/app: its source ${proxy.host}/src/app lists none of the tags the sync covers`);
    expect(await tags('p5/app')).to.deep.equal(['old1', 'v1', 'v2', 'v3']);

    // a first page, then a Link to a page the registry refuses: the listing fails, nothing is pruned
    const cut = await startFaultProxy(registry().url, (req): Fault | undefined => {
      const [path, query] = req.path.split('?');
      if (req.method !== 'GET' || path !== '/v2/src/app/tags/list') return undefined;
      return query === undefined
        ? { kind: 'status', status: 200, headers: { 'content-type': 'application/json', link: '</v2/src/app/tags/list?last=v1>; rel="next"' }, body: '{"name":"src/app","tags":["v1"]}' }
        : { kind: 'status', status: 404, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}' };
    });
    cleanup.defer(() => cut.stop());
    await writeFile(yaml, `${cut.host}:\n  tls-verify: false\n  images:\n    src/app: []\n`);
    const c = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--keep-going', '--dest-tls-verify=false', yaml, `${host()}/p5`], { env: env() });
    expect(c.code, c.stderr).to.equal(1);
    expect(c.stderr).to.contain(`Warning: not pruning ${host()}/p5/app: its source ${cut.host}/src/app could not be listed (listing the tags of ${cut.host}/src/app:`);
    expect(await tags('p5/app')).to.deep.equal(['old1', 'v1', 'v2', 'v3']);
  });

  it('never deletes the digest of a tag the sync writes when the destination listing leaves that tag out', async () => {
    // old shares v1's image; the destination's listing lags behind and does not show v1
    await seed('p6', { old: 'a' });
    const proxy = await listing('p6/app', ['old', 'v2', 'v3']);
    const r = await ferryProcess(['sync', '--src', 'docker', '--dest', 'docker', '--prune', '--prune-max', '100%', ...tls, `${host()}/src/app`, `${proxy.host}/p6`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`Warning: not pruning docker://${proxy.host}/p6/app:old: not in source, but its manifest ${img.get('a')!.digest} is also that of tag v1, which is kept`);
    expect(await tags('p6/app')).to.deep.equal(['old', 'v1', 'v2', 'v3']);
    expect(await digest('p6/app', 'v1')).to.equal(img.get('a')!.digest);
  });

  /**
   * A second source: `REPO` (tags w1, w2) on a second registry host (a fault proxy that changes nothing in front of
   * the same registry), whose shard of 2 differs from that of ${host}/src/app when `otherShard`.
   */
  async function secondSource(otherShard: boolean): Promise<{ proxy: FaultProxy; repo: string }> {
    const proxy = await startFaultProxy(registry().url, () => undefined);
    cleanup.defer(() => proxy.stop());
    let i = 0;
    while (otherShard && shardOf(`${proxy.host}/s${i}/app`, 2) === shardOf(`${host()}/src/app`, 2)) i++;
    const repo = `s${i}/app`;
    for (const [tag, name] of [['w1', 'd'], ['w2', 'e']] as const) await pushImage(img.get(name)!, registry(), `${repo}:${tag}`);
    return { proxy, repo };
  }

  it('a YAML file run as --shard 1/2 then 2/2, two registries writing one destination repository: no shard prunes the other\'s tags', async () => {
    const { proxy, repo } = await secondSource(true);
    const yaml = join(dir, 'q1.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images:\n    src/app: []\n${proxy.host}:\n  tls-verify: false\n  images:\n    ${repo}: []\n`);
    const run = (shard: string) => ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--shard', shard, '--dest-tls-verify=false', yaml, `${host()}/q1`], { env: env() });
    const first = await run('1/2');
    expect(first.code, first.stderr).to.equal(0);
    const second = await run('2/2');
    expect(second.code, second.stderr).to.equal(0);
    expect(await tags('q1/app')).to.deep.equal(['v1', 'v2', 'v3', 'w1', 'w2']);
    // the shard that syncs src/app names the left-out entry
    const srcShard = shardOf(`${host()}/src/app`, 2) === 1 ? first : second;
    expect(srcShard.stderr).to.contain(`Warning: not pruning ${host()}/q1/app: ${proxy.host}/${repo}, which this run leaves out (not in --shard ${shardOf(`${host()}/src/app`, 2)}/2), also syncs to it`);
  });

  it("a registry's include:/exclude: leaving tags out: another registry writing the same destination repository does not prune them", async () => {
    const { proxy, repo } = await secondSource(false);
    // w2 is there from a run before the exclude was written
    await seed('q2', { w1: 'd', w2: 'e' });
    const yaml = join(dir, 'q2.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images:\n    src/app: []\n${proxy.host}:\n  tls-verify: false\n  exclude: ['${repo}:w2']\n  images:\n    ${repo}: []\n`);
    const args = ['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/q2`];
    const r = await ferryProcess(args, { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(await tags('q2/app')).to.deep.equal(['v1', 'v2', 'v3', 'w1', 'w2']);
    expect(r.stderr).to.contain(`Warning: not pruning ${host()}/q2/app: ${proxy.host}/${repo}, which this run leaves out (left out by the filters), also syncs to it`);
  });

  it("a registry's exclude: leaving tags out of its tag list: those tags are kept, a tag no entry has is pruned", async () => {
    const { proxy, repo } = await secondSource(false);
    await seed('q3', { w1: 'd', w2: 'e', old1: 'f' });
    const yaml = join(dir, 'q3.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images:\n    src/app: []\n${proxy.host}:\n  tls-verify: false\n  exclude: ['${repo}:w2']\n  images:\n    ${repo}: [w1, w2]\n`);
    const r = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--prune-max', '100%', '--dest-tls-verify=false', yaml, `${host()}/q3`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(await tags('q3/app')).to.deep.equal(['v1', 'v2', 'v3', 'w1', 'w2']);
    expect(r.stderr).to.contain(`Pruned docker://${host()}/q3/app:old1: ${img.get('f')!.digest} (not in source)`);
  });

  it("never runs a user's images-by-tag-regex on a listed name that is not a tag (a hostile registry's text)", async () => {
    // (\w+)+$ backtracks exponentially on a run of word characters that does not end the string; the grammar (at
    // most 128 word characters, "." or "-") rules the name out first. The bound only ends the run on a regression.
    const proxy = await listing('src/app', ['v1', `${'a'.repeat(40)}!`]);
    const yaml = join(dir, 'q4.yaml');
    await writeFile(yaml, `${proxy.host}:\n  tls-verify: false\n  images-by-tag-regex:\n    src/app: '^(\\w+)+$'\n`);
    const r = await ferryProcess(['sync', '--src', 'yaml', '--dest', 'docker', '--prune', '--dest-tls-verify=false', yaml, `${host()}/q4`], { env: env(), timeoutMs: 30_000 });
    expect(r.code, `${r.stderr}(128: killed while still matching)`).to.equal(0);
    expect(await tags('q4/app')).to.deep.equal(['v1']);
  });

  it("keeps a signature the destination holds for a kept image (a mirror signing what it serves); prunes one whose image is gone", async () => {
    const sigOf = (d: string) => `${d.replace(':', '-')}.sig`;
    // a cosign signature of v1's image, and one of an image the destination no longer has
    await seed('p7', { [sigOf(img.get('a')!.digest)]: 'e', [sigOf(img.get('d')!.digest)]: 'd' });
    const r = await ferryProcess(['sync', '--src', 'docker', '--dest', 'docker', '--prune', '--prune-max', '100%', ...tls, `${host()}/src/app`, `${host()}/p7`], { env: env() });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`Warning: not pruning docker://${host()}/p7/app:${sigOf(img.get('a')!.digest)}: not in source, but it holds what refers to ${img.get('a')!.digest}, the manifest of tag v1, which is kept`);
    expect(await tags('p7/app')).to.deep.equal([sigOf(img.get('a')!.digest), 'v1', 'v2', 'v3'].sort());
  });
});
