/**
 * ferry sync of a whole registry (`--src docker HOST`, `HOST/NS/`) against real registries: the catalog, filters
 * (`--include` / `--exclude`, YAML `include:` / `exclude:`), sharding over several real `bin/ferry` processes, and
 * bad input — a catalog the registry refuses, an unreachable registry, authentication failing half-way, a repository
 * deleted during the run, a malformed YAML file — each one clear line, the rest of the job going on under
 * `--keep-going`.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry, ferryProcess } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { startFaultProxy, type Fault, type FaultRequest } from '../../harness/fault-proxy.js';
import { freePort, registryRepoPath, useRegistry, type TestRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

/** Every repository of the source registry and its tags. */
const SOURCE: Record<string, string[]> = {
  'team/a': ['v1', 'v1-rc1', 'v2'],
  'team/b': ['v1'],
  'other/c': ['v1'],
  'tools/d': ['latest'],
  ...Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`shard/e${i}`, ['v1', 'v2']])),
};
const ALL = Object.entries(SOURCE).flatMap(([repo, tags]) => tags.map((t) => `${repo}:${t}`)).sort();
const base = (repoTag: string) => repoTag.slice(repoTag.lastIndexOf('/') + 1);

describe('cli: ferry sync of a whole registry (catalog, filters, shards, bad input)', function () {
  this.timeout(120_000);
  const src = useRegistry('http');
  const dst = useRegistry('http');
  const cleanup = useCleanup();
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let dir: string;
  /**
   * One image per `repo:tag`, each with blobs of its own: pushes of one blob by several images at once into the
   * destination registry meet its own races (an HTTP 500 to a blob HEAD), which are not what these tests are about.
   */
  const imgs = new Map<string, BuiltImage>();
  let savedConf: string | undefined;

  /** Every `repo:tag` under `ns/` at the destination. */
  async function destImages(ns: string, reg: TestRegistry = dst()): Promise<string[]> {
    const cat = (await (await fetch(`${reg.url}/v2/_catalog?n=1000`)).json()) as { repositories: string[] };
    const out: string[] = [];
    for (const repo of cat.repositories.filter((r) => r.startsWith(`${ns}/`))) {
      const r = await fetch(`${reg.url}/v2/${repo}/tags/list`);
      const tags = (((await r.json()) as { tags: string[] | null }).tags ?? []);
      out.push(...tags.map((t) => `${repo.slice(ns.length + 1)}:${t}`));
    }
    return out.sort();
  }
  const expected = (pred: (repoTag: string) => boolean = () => true) => ALL.filter(pred).map(base).sort();

  async function proxy(rule: (req: FaultRequest) => Fault | undefined) {
    return cleanup.track(await startFaultProxy(src().url, rule));
  }

  before(async () => {
    dir = await cleanup.tempDir('cli-sync-catalog');
    await writeFile(join(dir, 'empty.conf'), '');
    savedConf = process.env['CONTAINERS_REGISTRIES_CONF'];
    process.env['CONTAINERS_REGISTRIES_CONF'] = join(dir, 'empty.conf');
    for (const [i, repoTag] of ALL.entries()) {
      const img = await buildImage(join(dir, 'img', repoTag), { seed: 4242 + i, layers: 1, layerSize: 700 });
      imgs.set(repoTag, img);
      await pushImage(img, src(), repoTag);
    }
  });
  after(() => {
    if (savedConf === undefined) delete process.env['CONTAINERS_REGISTRIES_CONF'];
    else process.env['CONTAINERS_REGISTRIES_CONF'] = savedConf;
  });

  it('--src docker HOST: every repository the catalog lists, every tag', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, src().host, `${dst().host}/all`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include(`Synced ${ALL.length} images from ${Object.keys(SOURCE).length} sources`);
    expect(await destImages('all')).to.deep.equal(expected());
  });

  it('HOST/NS/ takes the repositories under NS/; HOST/REPO stays one repository', async () => {
    let r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, `${src().host}/team/`, `${dst().host}/ns`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await destImages('ns')).to.deep.equal(expected((x) => x.startsWith('team/')));
    r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, `${src().host}/other/c`, `${dst().host}/one`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await destImages('one')).to.deep.equal(['c:v1']);
  });

  it('--prune with a registry or namespace source: nothing pruned, with a line saying so', async () => {
    await pushImage(imgs.get('team/b:v1')!, dst(), 'pr/b:old');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--prune', '--prune-max', '100%', ...tls, `${src().host}/team/`, `${dst().host}/pr`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include(`Warning: not pruning the repositories of ${src().host}/team/: a registry or namespace source is never pruned`);
    expect(await destImages('pr')).to.deep.equal([...expected((x) => x.startsWith('team/')), 'b:old'].sort());
  });

  it('--include / --exclude on repositories and on REPO:TAG, exclude winning', async () => {
    const r = await ferry([
      'sync', '--src', 'docker', '--dest', 'docker', ...tls,
      '--include', 'team/*', '--include', 'shard/e1:v2', '--exclude', '**:*-rc*', '--exclude', 'team/b',
      src().host, `${dst().host}/filtered`,
    ]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await destImages('filtered')).to.deep.equal(['a:v1', 'a:v2', 'e1:v2']);
    // a repository source takes the same filters; filtered-out tags are never copied
    const one = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, '--exclude', 'regex:.*:v[0-9]+-rc[0-9]+', `${src().host}/team/a`, `${dst().host}/filtered-one`]);
    expect(one.code, one.stderr).to.equal(0);
    expect(await destImages('filtered-one')).to.deep.equal(['a:v1', 'a:v2']);
  });

  it('YAML sources: the entry’s include:/exclude: and the command line’s filters both apply', async () => {
    const yaml = join(dir, 'filters.yaml');
    await writeFile(yaml, [`${src().host}:`, '  images:', '    team/a: []', '    team/b: []', '    shard/e0: [v1, v2]', '  exclude: ["**:*-rc*"]', '  tls-verify: false', ''].join('\n'));
    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', '--exclude', 'shard/e0:v2', yaml, `${dst().host}/yaml`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await destImages('yaml')).to.deep.equal(['a:v1', 'a:v2', 'b:v1', 'e0:v1']);
  });

  it('--shard: three bin/ferry processes at once sync every image exactly once, each repository in one of them', async () => {
    const reports = [1, 2, 3].map((k) => join(dir, `shard-${k}.jsonl`));
    const common = ['sync', '--src', 'docker', '--dest', 'docker', ...tls, '--quiet'];
    const env = { CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf') };
    const runs = await Promise.all([
      ferryProcess([...common, '--shard', '1/3', '--report', reports[0]!, src().host, `${dst().host}/sharded`], { env, timeoutMs: 90_000 }),
      ferryProcess([...common, '--shard', 'auto', '--report', reports[1]!, src().host, `${dst().host}/sharded`], { env: { ...env, JOB_COMPLETION_INDEX: '1', FERRY_SHARD_COUNT: '3' }, timeoutMs: 90_000 }),
      ferryProcess([...common, '--shard', 'auto/3', '--report', reports[2]!, src().host, `${dst().host}/sharded`], { env: { ...env, JOB_COMPLETION_INDEX: '2', FERRY_SHARD_COUNT: undefined }, timeoutMs: 90_000 }),
    ]);
    for (const r of runs) expect(r.code, r.stderr).to.equal(0);
    const lines = await Promise.all(reports.map(async (f) => (await readFile(f, 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { source: string; action: string })));
    const prefix = `docker://${src().host}/`;
    const synced = lines.flat().map((l) => l.source.slice(prefix.length)).sort();
    expect(synced).to.deep.equal(ALL); // each exactly once, none missing
    for (const l of lines.flat()) expect(l.action).to.equal('copied');
    // all tags of a repository in the same process
    const owner = new Map<string, number>();
    lines.forEach((ls, k) => ls.forEach((l) => {
      const repo = l.source.slice(prefix.length).split(':')[0]!;
      expect(owner.get(repo) ?? k, repo).to.equal(k);
      owner.set(repo, k);
    }));
    expect(await destImages('sharded')).to.deep.equal(expected());
  });

  it('usage errors: bad --shard values, missing variables, bad patterns, filters on a dir source', async () => {
    const cases: [string[], Record<string, string | undefined>, string][] = [
      [['--shard', '0/3'], {}, '--shard 0/3: K must be from 1 to 3 (shards are counted from 1)'],
      [['--shard', 'auto'], { JOB_COMPLETION_INDEX: '0', FERRY_SHARD_COUNT: undefined }, '--shard auto: FERRY_SHARD_COUNT is not set'],
      [['--shard', 'auto/3'], { JOB_COMPLETION_INDEX: undefined }, '--shard auto: JOB_COMPLETION_INDEX is not set'],
      [['--include', 'team/[ab]'], {}, 'invalid pattern "team/[ab]": a glob may hold only'],
    ];
    for (const [flags, env, msg] of cases) {
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      try {
        const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, ...flags, src().host, `${dst().host}/never`]);
        expect(r.code).to.not.equal(0);
        expect(r.stderr, flags.join(' ')).to.include(msg);
      } finally {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
    const d = await ferry(['sync', '--src', 'dir', '--dest', 'docker', '--exclude', 'x', dir, `${dst().host}/never`]);
    expect(d.code).to.not.equal(0);
    expect(d.stderr).to.include('--include, --exclude and --shard apply to --src docker and --src yaml sources, not --src dir');
    expect(await destImages('never')).to.deep.equal([]);
  });

  it('a catalog the registry refuses: one line, exit 1; with --keep-going the other sources go on', async () => {
    const p = await proxy((r) => (r.path.startsWith('/v2/_catalog') ? { kind: 'status', status: 404, body: '404 page not found\n' } : undefined));
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, p.host, `${dst().host}/refused`]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.equal(`Error: listing the repositories of ${p.host}: the registry does not allow catalog access (HTTP 404)`);
    // one YAML source cannot reach its registry, the other syncs
    const yaml = join(dir, 'two.yaml');
    const down = `127.0.0.1:${await freePort()}`;
    await writeFile(yaml, [`${down}:`, '  images:', '    x/y: []', '  tls-verify: false', `${src().host}:`, '  images:', '    other/c: []', '  tls-verify: false', ''].join('\n'));
    const k = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', '--retry-times', '0', '--keep-going', yaml, `${dst().host}/refused`]);
    expect(k.code).to.equal(1);
    expect(k.stderr).to.match(new RegExp(`Error processing repo ${down}/x/y, skipping: listing the tags of ${down}/x/y: .*connection refused`, 'i'));
    expect(await destImages('refused')).to.deep.equal(['c:v1']);
  });

  it('an unreachable registry: one line naming the listing, exit 1', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, '--retry-times', '0', '--keep-going', down, `${dst().host}/down`]);
    expect(r.code).to.equal(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error'));
    expect(errors).to.have.length(2);
    expect(errors[0]).to.match(new RegExp(`^Error processing repo ${down}, skipping: listing the repositories of ${down}: .*connection refused`, 'i'));
    expect(errors[1]).to.equal(`Error: Sync failed for 1 image or source (0 images synced): ${down}`);
  });

  it('authentication failing half-way (a repository denied after the catalog was allowed): the others are synced', async () => {
    const denied: Fault = { kind: 'status', status: 401, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}' };
    const p = await proxy((r) => (r.path.startsWith('/v2/team/b/tags/list') || r.path.startsWith('/v2/other/c/manifests/') ? denied : undefined));
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, '--keep-going', `${p.host}/`, `${dst().host}/halfauth`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`Error processing repo ${p.host}/team/b, skipping: listing the tags of ${p.host}/team/b: `);
    expect(r.stderr).to.match(new RegExp(`Error copying ref docker://${p.host}/other/c:v1: .*unauthorized: authentication required`));
    expect(r.stderr, r.stderr).to.include(`Error: Sync failed for 2 images or sources (${ALL.length - 2} images synced): docker://${p.host}/other/c:v1, ${p.host}/team/b`);
    expect(await destImages('halfauth')).to.deep.equal(expected((x) => !x.startsWith('team/b') && !x.startsWith('other/c')));
  });

  it('a repository deleted after the catalog listed it: one line, the rest synced (exit 1); without --keep-going exit 2', async () => {
    try {
      const deleteD = (r: FaultRequest) => {
        // the catalog has been read (repositories are listed in its order): tools/d goes now
        if (r.path.startsWith('/v2/team/a/tags/list')) rmSync(registryRepoPath(src(), 'tools/d'), { recursive: true, force: true });
        return undefined;
      };
      let p = await proxy(deleteD);
      const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, '--keep-going', p.host, `${dst().host}/deleted`]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr, r.stderr).to.match(new RegExp(`\nError processing repo ${p.host}/tools/d, skipping: listing the tags of ${p.host}/tools/d: .*repository name not known to registry\n`));
      expect(await destImages('deleted')).to.deep.equal(expected((x) => !x.startsWith('tools/d')));
      await pushImage(imgs.get('tools/d:latest')!, src(), 'tools/d:latest');
      // the namespace tools/: its catalog names tools/d, which is gone when its tags are asked for
      p = await proxy((r) => {
        if (r.path.startsWith('/v2/tools/d/tags/list')) rmSync(registryRepoPath(src(), 'tools/d'), { recursive: true, force: true });
        return undefined;
      });
      const stop = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, `${p.host}/tools/`, `${dst().host}/deleted2`]);
      expect(stop.code, stop.stderr).to.equal(2);
      expect(stop.stderr.trim().split('\n').pop()).to.match(new RegExp(`^Error: listing the tags of ${p.host}/tools/d: .*repository name not known to registry$`));
    } finally {
      await pushImage(imgs.get('tools/d:latest')!, src(), 'tools/d:latest');
    }
  });

  it('SOURCE not found: a namespace with no repositories exits 2', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, `${src().host}/nothing/`, `${dst().host}/none`]);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim()).to.equal(`Error: no repositories found in ${src().host}/nothing/`);
  });

  it('a malformed YAML file or pattern is named with its line and column, before anything is copied', async () => {
    const yaml = join(dir, 'bad.yaml');
    await writeFile(yaml, [`${src().host}:`, '  images:', '    team/a: [v1', '  tls-verify: false', ''].join('\n'));
    let r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', yaml, `${dst().host}/badyaml`]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim(), r.stderr).to.match(new RegExp(`^Error: ${yaml}:4:3: `));
    await writeFile(yaml, [`${src().host}:`, '  images:', '    team/a: []', '  exclude:', '    - "**:*-rc*"', '    - "team/a b"', ''].join('\n'));
    r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', yaml, `${dst().host}/badyaml`]);
    expect(r.code).to.equal(1);
    expect(r.stderr.trim()).to.equal(`Error: ${yaml}:6:7: exclude: invalid pattern "team/a b": a glob may hold only letters, digits, ".", "_", "-", "/", ":", "*" and "?" (write regex:… for a regular expression)`);
    expect(await destImages('badyaml')).to.deep.equal([]);
  });
});
