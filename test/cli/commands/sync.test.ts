/** ferry sync against a real registry (http), and interop with skopeo 1.9's own `sync`. */
import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { runOk } from '../../harness/procs.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

describe('cli: ferry sync (real registry)', function () {
  this.timeout(30_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  const tags = ['v1', 'v2', 'v3'];
  const images = new Map<string, BuiltImage>();
  let skopeoEnv: Record<string, string>;
  const host = () => registry().host;
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];

  /** The digest the registry serves for `repo:tag`, or undefined when it has no such manifest. */
  async function remoteDigest(repo: string, tag: string): Promise<string | undefined> {
    const r = await fetch(`${registry().url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
    if (r.status === 404) return undefined;
    expect(r.status).to.equal(200);
    return r.headers.get('docker-content-digest') ?? undefined;
  }

  async function remoteTags(repo: string): Promise<string[]> {
    const r = await fetch(`${registry().url}/v2/${repo}/tags/list`);
    if (r.status === 404) return [];
    return (((await r.json()) as { tags: string[] | null }).tags ?? []).sort();
  }

  const skopeo = (...args: string[]) => runOk('skopeo', args, { env: skopeoEnv, timeoutMs: 20_000 });

  before(async () => {
    const dir = await cleanup.tempDir('cli-sync');
    await writeFile(join(dir, 'empty.conf'), '');
    skopeoEnv = { HOME: dir, CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf') };
    for (const [i, tag] of tags.entries()) {
      const img = await buildImage(join(dir, tag), { seed: 70 + i, layers: 1, layerSize: 2_000, format: i === 2 ? 'docker' : 'oci' });
      images.set(tag, img);
      await pushImage(img, registry(), `src/app:${tag}`);
    }
    for (const t of ['1.0.0', '1.2.0', '2.0.0', 'latest']) await pushImage(images.get('v1')!, registry(), `src/sem:${t}`);
  });

  it('--src docker REPO --dest docker: every tag lands in the namespace with the same digest', async () => {
    const digestFile = join(await cleanup.tempDir('cli-sync-digests'), 'digests');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--digestfile', digestFile, ...tls, `${host()}/src/app`, `${host()}/mirror`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await readFile(digestFile, 'utf8')).to.equal(tags.map((t) => `${images.get(t)!.digest} docker://${host()}/mirror/app:${t}\n`).join(''));
    expect(r.stdout).to.equal('');
    const lines = r.stderr.trimEnd().split('\n');
    // images run in parallel: one line per image as it finishes (in any order), with its digest and the bytes moved
    expect(lines).to.have.length(4);
    for (const [i, t] of tags.entries()) {
      const line = `Copied image ref ${i + 1}/3 from docker://${host()}/src/app:${t} to docker://${host()}/mirror/app:${t}: ${images.get(t)!.digest} (`;
      expect(lines.filter((l) => l.startsWith(line) && /\(\d+(\.\d)?(B|KiB) in \d+\.\ds\)$/.test(l)), line).to.have.length(1);
    }
    expect(lines.at(-1)).to.equal('Synced 3 images from 1 sources');
    expect(await remoteTags('mirror/app')).to.deep.equal(tags);
    for (const t of tags) expect(await remoteDigest('mirror/app', t)).to.equal(images.get(t)!.digest);
  });

  it('two repositories with the same last name never overwrite each other at the destination (without --scoped)', async () => {
    await pushImage(images.get('v1')!, registry(), 'clash/a/app:1');
    await pushImage(images.get('v2')!, registry(), 'clash/b/app:1');
    await pushImage(images.get('v2')!, registry(), 'clash/b/app:2');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--keep-going', '--parallel-images', '1', ...tls, `${host()}/clash/`, `${host()}/clashed`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.contain(
      `Error copying ref docker://${host()}/clash/b/app:1: docker://${host()}/clashed/app:1 is already the destination of docker://${host()}/clash/a/app:1: not replacing it with another image (--scoped keeps the whole source names apart)`,
    );
    // the first keeps its place, the tag nothing else claims is copied
    expect(await remoteDigest('clashed/app', '1')).to.equal(images.get('v1')!.digest);
    expect(await remoteDigest('clashed/app', '2')).to.equal(images.get('v2')!.digest);
    // without --keep-going the sync stops there, and writes nothing under the name the two claim
    const stop = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, `${host()}/clash/`, `${host()}/clashed2`]);
    expect(stop.code).to.equal(1);
    expect(stop.stderr.trimEnd().split('\n').at(-1)).to.contain(`is already the destination of docker://${host()}/clash/a/app:1`);
    expect(await remoteDigest('clashed2/app', '1')).to.not.equal(images.get('v2')!.digest);
    // the dry run plans the same refusal
    const plan = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--output', 'json', '--keep-going', ...tls, `${host()}/clash/`, `${host()}/clashed3`]);
    const planned = (JSON.parse(plan.stdout) as { images: Array<{ source: string; destination: string; action: string; reason: string }> }).images;
    const refused = planned.find((i) => i.source === `docker://${host()}/clash/b/app:1`);
    expect(refused, plan.stdout).to.deep.include({ action: 'failed', destination: `docker://${host()}/clashed3/app:1` });
    expect(refused!.reason).to.contain(`is already the destination of docker://${host()}/clash/a/app:1`);
    expect(planned.filter((i) => i.action === 'copy').map((i) => i.source).sort()).to.deep.equal([`docker://${host()}/clash/a/app:1`, `docker://${host()}/clash/b/app:2`]);
  });

  it('--dest dir writes skopeo’s layout; skopeo and ferry both sync it back (--src dir) with the same digests', async () => {
    const ours = await cleanup.tempDir('cli-sync-ours');
    const theirs = await cleanup.tempDir('cli-sync-theirs');
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'dir', '-q', ...tls, `${host()}/src/app`, ours]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    await skopeo('sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${host()}/src/app`, theirs);
    expect((await readdir(ours)).sort()).to.deep.equal((await readdir(theirs)).sort());
    expect((await readdir(ours)).sort()).to.deep.equal(tags.map((t) => `app:${t}`));
    for (const t of tags) {
      const m = await readFile(join(ours, `app:${t}`, 'manifest.json'));
      expect(m.equals(await readFile(join(theirs, `app:${t}`, 'manifest.json'))), t).to.equal(true);
      expect(m.equals(images.get(t)!.bytes)).to.equal(true);
      expect((await readdir(join(ours, `app:${t}`))).sort()).to.deep.equal((await readdir(join(theirs, `app:${t}`))).sort());
    }
    // --scoped keeps the whole source name, as skopeo does
    const scopedOurs = await cleanup.tempDir('cli-sync-scoped-ours');
    const scopedTheirs = await cleanup.tempDir('cli-sync-scoped-theirs');
    expect((await ferry(['sync', '-s', 'docker', '-d', 'dir', '-q', '--scoped', ...tls, `${host()}/src/app:v2`, scopedOurs])).code).to.equal(0);
    await skopeo('sync', '-s', 'docker', '-d', 'dir', '--scoped', '--src-tls-verify=false', `${host()}/src/app:v2`, scopedTheirs);
    expect(await readdir(join(scopedOurs, host(), 'src'))).to.deep.equal(['app:v2']);
    expect(await readdir(join(scopedTheirs, host(), 'src'))).to.deep.equal(['app:v2']);

    // skopeo reads what ferry wrote
    await skopeo('sync', '--src', 'dir', '--dest', 'docker', '--dest-tls-verify=false', ours, `${host()}/by-skopeo`);
    // ferry reads it back too
    // one image at a time: skopeo's lines
    const back = await ferry(['sync', '--src', 'dir', '--dest', 'docker', '--parallel-images', '1', ...tls, ours, `${host()}/back`]);
    expect(back.code, back.stderr).to.equal(0);
    expect(back.stderr).to.contain(`Copying image ref 2/3 from="dir:${join(ours, 'app:v2')}" to="docker://${host()}/back/app:v2"`);
    expect(back.stderr.trimEnd().split('\n').at(-1)).to.equal('Synced 3 images from 1 sources');
    for (const t of tags) {
      expect(await remoteDigest('back/app', t), t).to.equal(images.get(t)!.digest);
      expect(await remoteDigest('by-skopeo/app', t), t).to.equal(images.get(t)!.digest);
    }
  });

  it('--src yaml: tag lists, tag regex and semver constraints; registry settings from the file', async () => {
    const dir = await cleanup.tempDir('cli-sync-yaml');
    const file = join(dir, 'sync.yaml');
    await writeFile(
      file,
      [
        '# what to mirror',
        `${host()}:`,
        '  tls-verify: false   # plain http test registry',
        '  images:',
        '    src/app:',
        '      - v1',
        '  images-by-tag-regex:',
        "    src/app: '^v[23]$'",
        '  images-by-semver:',
        '    src/sem: ">= 1.1, < 2"',
        '',
      ].join('\n'),
    );
    // no --src-tls-verify: the file's tls-verify applies to the source
    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', file, `${host()}/yaml`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`Copied image ref 1/1 from docker://${host()}/src/app:v1 to docker://${host()}/yaml/app:v1: `);
    expect(r.stderr).to.contain(`Copied image ref 2/2 from docker://${host()}/src/app:v3 to docker://${host()}/yaml/app:v3: `);
    expect(r.stderr.trimEnd().split('\n').at(-1)).to.equal('Synced 4 images from 3 sources');
    expect(await remoteTags('yaml/app')).to.deep.equal(tags);
    expect(await remoteTags('yaml/sem')).to.deep.equal(['1.2.0']);
    for (const t of tags) expect(await remoteDigest('yaml/app', t)).to.equal(images.get(t)!.digest);
  });

  it('--append-suffix takes the next word as its value even when it starts with "-", as pflag does', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--append-suffix', '-x', ...tls, `${host()}/src/app:v2`, `${host()}/dry`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.contain(`to="docker://${host()}/dry/app:v2-x"`);
  });

  it('--dry-run copies nothing and names every destination (with --append-suffix)', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--append-suffix=-mirrored', ...tls, `${host()}/src/app`, `${host()}/dry`]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).to.deep.equal([
      ...tags.map((t, i) => `Would have copied image ref ${i + 1}/3 from="docker://${host()}/src/app:${t}" to="docker://${host()}/dry/app:${t}-mirrored"`),
      'Would have synced 3 images from 1 sources',
    ]);
    const j = await ferry(['sync', '--src', 'docker', '--dest', 'docker', '--dry-run', '--progress', 'json', ...tls, `${host()}/src/app:v2`, `${host()}/dry`]);
    expect(j.code, j.stderr).to.equal(0);
    expect(j.stderr.trimEnd().split('\n').map((l) => JSON.parse(l))).to.deep.equal([
      { kind: 'sync-image', index: 1, count: 1, from: `docker://${host()}/src/app:v2`, to: `docker://${host()}/dry/app:v2`, dryRun: true },
      { kind: 'sync-done', images: 1, sources: 1, failures: 0, dryRun: true },
    ]);
    expect(await remoteTags('dry/app')).to.deep.equal([]);
  });

  it('--dry-run lines carry the message and the from=/to= fields of skopeo sync --dry-run', async () => {
    const out = await cleanup.tempDir('cli-sync-dry-dir');
    const yaml = join(out, 'sync.yaml');
    await writeFile(yaml, `${host()}:\n  tls-verify: false\n  images:\n    src/app: [v1, v3]\n`);
    const runs: string[][] = [
      ['--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${host()}/src/app`, join(out, 'd')],
      ['--src', 'docker', '--dest', 'docker', ...tls, `${host()}/src/app:v2`, `${host()}/dry`],
      ['--src', 'yaml', '--dest', 'dir', yaml, join(out, 'y')],
    ];
    for (const args of runs) {
      const s = await skopeo('sync', '--dry-run', ...args);
      // logrus: time="…" level=info msg="Would have copied image ref 1/3" from="docker://…" to="dir:…"
      const theirs = [...s.stderr.matchAll(/level=info msg="((?:Would have copied|Would have synced)[^"]*)"(.*)$/gm)].map((m) => `${m[1]}${m[2]}`);
      expect(theirs.length, s.stderr).to.be.greaterThan(1);
      const f = await ferry(['sync', '--dry-run', ...args]);
      expect(f.code, f.stderr).to.equal(0);
      expect(f.stderr.trimEnd().split('\n'), args.join(' ')).to.deep.equal(theirs);
    }
  });

  it('--src yaml reads what skopeo reads: flow mappings, anchors, aliases, merge keys, tags as text', async () => {
    const out = await cleanup.tempDir('cli-sync-yaml-compat');
    const yaml = join(out, 'sync.yaml');
    await writeFile(
      yaml,
      [
        'x-common: &common',
        '  tls-verify: no',
        '  credentials: {username: nobody, password: "not: used"}',
        `${host()}:`,
        '  <<: *common',
        '  images: {src/app: &tags [v1, 1.10, yes], src/sem: *tags}',
        '  unknown-key: ignored',
        '',
      ].join('\n'),
    );
    const args = ['--src', 'yaml', '--dest', 'dir', yaml, join(out, 'd')];
    const s = await skopeo('sync', '--dry-run', ...args);
    const theirs = [...s.stderr.matchAll(/level=info msg="((?:Would have copied|Would have synced)[^"]*)"(.*)$/gm)].map((m) => `${m[1]}${m[2]}`);
    const f = await ferry(['sync', '--dry-run', ...args]);
    expect(f.code, f.stderr).to.equal(0);
    // skopeo walks the YAML's images in Go map order (random from run to run), ferry in file order: compare the
    // lines of each repository, and the summary
    const byRepo = (lines: string[]) => lines.slice(0, -1).sort();
    const all = f.stderr.trimEnd().split('\n');
    expect(all.filter((l) => l.startsWith('Warning: '))).to.deep.equal([
      `Warning: ${yaml}:1: no images specified for registry "x-common"`,
      `Warning: ${yaml}:7: unknown key "unknown-key" in registry "${host()}", ignored`,
    ]);
    const ours = all.filter((l) => !l.startsWith('Warning: '));
    expect(byRepo(ours)).to.deep.equal(byRepo(theirs));
    expect(ours.at(-1)).to.equal(theirs.at(-1));
    expect(ours.slice(0, 3).every((l) => l.includes('/src/app:'))).to.equal(true);
    expect(theirs).to.include(`Would have copied image ref 2/3 from="docker://${host()}/src/app:1.10" to="dir:${join(out, 'd', 'app:1.10')}"`);
    expect(theirs.at(-1)).to.equal('Would have synced 6 images from 2 sources');
  });

  it('--keep-going: a missing tag fails alone, the others are copied, exit 1 with a summary naming it', async () => {
    const dir = await cleanup.tempDir('cli-sync-keep');
    const file = join(dir, 'sync.yaml');
    await writeFile(file, `${host()}:\n  images:\n    src/app: [v1, missing, v3]\n    src/nope: []\n`);
    // one image at a time, the images before the failing one are copied and none after it
    const stopped = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--parallel-images', '1', ...tls, file, `${host()}/stop`]);
    expect(stopped.code, stopped.stderr).to.equal(2);
    expect(stopped.stderr.trimEnd().split('\n').at(-1)).to.match(new RegExp(`^Error: copying docker://${host()}/src/app:missing: `));
    expect(await remoteTags('stop/app')).to.deep.equal(['v1']);

    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--keep-going', ...tls, file, `${host()}/keep`]);
    expect(r.code, r.stderr).to.equal(1);
    expect(await remoteTags('keep/app')).to.deep.equal(['v1', 'v3']);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.find((l) => l.startsWith('Error copying ref'))).to.match(new RegExp(`^Error copying ref docker://${host()}/src/app:missing: .+`));
    expect(lines.find((l) => l.startsWith('Error processing repo'))).to.match(new RegExp(`^Error processing repo ${host()}/src/nope, skipping: .+`));
    expect(lines).to.include('Synced 2 images from 1 sources');
    expect(lines.at(-1)).to.match(
      new RegExp(`^Error: Sync failed for 2 images or sources \\(2 images synced\\): docker://${host()}/src/app:missing, ${host()}/src/nope$`),
    );
  });

  it('an unknown repository exits 2; dir to dir and unknown --src are usage errors', async () => {
    const r = await ferry(['sync', '--src', 'docker', '--dest', 'docker', ...tls, `${host()}/src/nope`, `${host()}/x`]);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/^Error: listing the tags of .*src\/nope: /);
    const d = await ferry(['sync', '--src', 'dir', '--dest', 'dir', '/tmp/a', '/tmp/b']);
    expect(d.code).to.equal(1);
    expect(d.stderr).to.contain("sync from 'dir' to 'dir' is not implemented");
    const u = await ferry(['sync', '--src', 'nope', '--dest', 'dir', '/tmp/a', '/tmp/b']);
    expect(u.code).to.equal(1);
    expect(u.stderr).to.contain('Invalid values');
  });

  it('malformed yaml: one E_CONFIG line naming the file, line and column; unknown keys are ignored with a warning', async () => {
    const dir = await cleanup.tempDir('cli-sync-bad');
    const file = join(dir, 'bad.yaml');
    await writeFile(file, `${host()}:\n  images:\n    src/app: [v1, v2\n`);
    const r = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', '--debug', file, `${host()}/x`]);
    expect(r.code).to.equal(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).to.equal(`Error: ${file}:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]`);
    expect(lines[1]).to.equal('  code: E_CONFIG');
    const typo = join(dir, 'typo.yaml');
    await writeFile(typo, `${host()}:\n  image:\n    src/app: [v1]\n`);
    const t = await ferry(['sync', '--src', 'yaml', '--dest', 'docker', typo, `${host()}/x`]);
    // a key skopeo does not know is ignored, as skopeo ignores it: here nothing is left to copy; both warn
    expect(t.code, t.stderr).to.equal(0);
    expect(t.stderr).to.equal(
      `Warning: ${typo}:2: unknown key "image" in registry "${host()}" (did you mean "images"?), ignored\n` +
        `Warning: ${typo}:1: no images specified for registry "${host()}"\n` +
        'Synced 0 images from 0 sources\n',
    );
    const theirs = (await skopeo('sync', '--src', 'yaml', '--dest', 'docker', typo, `${host()}/x`)).stderr;
    expect(theirs).to.contain('Synced 0 images from 0 sources');
    expect(theirs).to.contain('No images specified for registry');
  });
});
