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
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

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

  before(async () => {
    dir = await cleanup.tempDir('cli-sync-prune');
    await writeFile(join(dir, 'empty.conf'), '');
    for (const [i, name] of ['a', 'b', 'c', 'd', 'e'].entries()) img.set(name, await buildImage(join(dir, name), { seed: 950 + i, layers: 1, layerSize: 1_000 }));
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
});
