/**
 * The far side of an air gap, `sync --src oci-archive`, reading an archive someone tampered with in transit: its
 * ref names choose where each image goes, so none may lead outside the destination the user named (another
 * registry host, the destination's parent, a directory outside `--dest dir`).
 */
import { expect } from 'chai';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferry } from '../harness/cli.js';
import { buildImage, REF_NAME_ANNOTATION } from '../harness/images.js';
import { runOk } from '../harness/procs.js';
import { useRegistry, type TestRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json';

async function remoteDigest(reg: TestRegistry, repo: string, tag: string): Promise<string | undefined> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
  return r.ok ? (r.headers.get('docker-content-digest') ?? undefined) : undefined;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('sync --src oci-archive: a tampered archive (real registry)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const other = useRegistry('http');
  const cleanup = useCleanup();
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let root: string;
  let layout: string;
  let digest: string;
  let config: string;
  let configSize: number;

  /** An archive of the built image under each of `names` (one index.json entry each), as someone rewrote it. */
  async function archiveNamed(file: string, names: string[]): Promise<string> {
    const dir = await cleanup.tempDir('hostile-layout');
    await runOk('cp', ['-r', `${layout}/.`, dir]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    const [d] = index.manifests;
    index.manifests = names.map((n) => ({ ...d, annotations: { [REF_NAME_ANNOTATION]: n } }));
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    const out = join(root, file);
    await runOk('tar', ['-C', dir, '-cf', out, 'oci-layout', 'index.json', 'blobs']);
    return out;
  }

  before(async () => {
    root = await cleanup.tempDir('archive-hostile');
    layout = join(root, 'img');
    const img = await buildImage(layout, { seed: 911, layers: 1, layerSize: 2_000 });
    digest = img.manifests[0]!.digest;
    config = img.manifests[0]!.configDigest;
    configSize = img.manifests[0]!.config.length;
  });

  it('a ref name that climbs out of the destination (../HOST/REPO:TAG, REPO/..) or is empty is refused; the others are imported', async () => {
    const stolen = `../../${other().host}/stolen:1`;
    const archive = await archiveNamed('names.tar', ['good:1', stolen, 'x/..', '']);
    for (const scoped of [[], ['--scoped']]) {
      const r = await ferry(['sync', '-q', '--keep-going', ...scoped, '--src', 'oci-archive', '--dest', 'docker', ...tls, archive, `${registry().host}/air`]);
      expect(r.code, r.stderr).to.not.equal(0);
      expect(r.stderr).to.include(`ref name ${JSON.stringify(stolen)}`);
      expect(r.stderr).to.include('ref name "x/.."');
      expect(r.stderr).to.include('ref name ""');
      expect(await remoteDigest(other(), 'stolen', '1'), scoped.join()).to.equal(undefined);
      expect(await remoteDigest(registry(), 'air/good', '1')).to.equal(digest);
    }
  });

  it('verify-archive names each ref name an import refuses, and a ref name given to two different images', async () => {
    let archive = await archiveNamed('verify-names.tar', ['good:1', '../../elsewhere:1', 'x/..', '']);
    let v = await ferry(['verify-archive', '--format', 'json', archive]);
    expect(v.code).to.equal(1);
    const report = JSON.parse(v.stdout) as { images: { name: string; ok: boolean }[]; problems: { image: string; problem: string }[] };
    expect(report.images.map((i) => [i.name, i.ok])).to.deep.equal([['good:1', true], ['../../elsewhere:1', false], ['x/..', false], ['', false]]);
    expect(report.problems.map((p) => p.problem)).to.deep.equal(['../../elsewhere:1', 'x/..', ''].map((n) => `ref name ${JSON.stringify(n)} is not a valid image name (REPO:TAG): an import refuses it`));

    // the same name twice: the second entry points at another manifest (the config, which is no manifest at all)
    const dir = await cleanup.tempDir('dup-layout');
    await runOk('cp', ['-r', `${layout}/.`, dir]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
    index.manifests.push({ ...index.manifests[0]!, digest: config, size: configSize });
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));
    archive = join(root, 'verify-dup.tar');
    await runOk('tar', ['-C', dir, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
    v = await ferry(['verify-archive', archive]);
    expect(v.code).to.equal(1);
    expect(v.stdout).to.include(`Problem: image "latest": blob ${config}: the ref name is also that of ${digest}: sync --src oci-archive refuses the archive, a copy of that name takes the first`);

    // the import refuses that archive before it copies anything, naming the ref name and both images; so does
    // an import of the layout
    for (const [kind, src] of [['oci-archive', archive], ['oci', dir]] as const) {
      const r = await ferry(['sync', '-q', '--keep-going', '--src', kind, '--dest', 'docker', ...tls, src, `${registry().host}/dup-${kind}`]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.include(`${kind === 'oci' ? 'OCI layout' : 'OCI archive'} ${src}: ref name "latest" names two images (${digest} and ${config}): refusing to import an index that does not say which`);
      expect(await remoteDigest(registry(), `dup-${kind}/latest`, 'latest')).to.equal(undefined);
    }
  });

  it('without --keep-going, the first hostile name stops the import, naming it', async () => {
    const archive = await archiveNamed('first.tar', [`../../${other().host}/first:1`]);
    const r = await ferry(['sync', '-q', '--scoped', '--src', 'oci-archive', '--dest', 'docker', ...tls, archive, `${registry().host}/air`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.include(`ref name "../../${other().host}/first:1"`);
    expect(await remoteDigest(other(), 'first', '1')).to.equal(undefined);
  });

  it('--dest dir: a ref name cannot write outside the destination directory', async () => {
    const base = await cleanup.tempDir('hostile-dir');
    const dest = join(base, 'a', 'dest');
    await runOk('mkdir', ['-p', dest]);
    const archive = await archiveNamed('dir.tar', ['../../escaped:1']);
    const r = await ferry(['sync', '-q', '--scoped', '--src', 'oci-archive', '--dest', 'dir', archive, dest]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('ref name "../../escaped:1"');
    expect(await exists(join(base, 'escaped:1'))).to.equal(false);
  });
});

describe('sync --src oci-archive: tampered blobs (real registry)', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup();
  const tls = ['--src-tls-verify=false', '--dest-tls-verify=false'];
  let root: string;
  let layout: string;
  let layer: string;
  let config: string;
  let digest: string;

  /**
   * An archive of the built image whose layer entry `edit` rewrote (python's tarfile writes the odd entries: links,
   * duplicates, names outside the layout).
   */
  async function tampered(file: string, edit: string): Promise<string> {
    const out = join(root, file);
    const hex = layer.slice('sha256:'.length);
    const script = `
import io, json, os, sys, tarfile
src, out, hex, cfg = sys.argv[1:5]
def add(t, name, data, **kw):
    i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o644
    for k, v in kw.items(): setattr(i, k, v)
    t.addfile(i, io.BytesIO(data) if i.isreg() else None)
with tarfile.open(out, 'w', format=tarfile.PAX_FORMAT) as t:
    for top in ('oci-layout', 'index.json'):
        add(t, top, open(os.path.join(src, top), 'rb').read())
    for name in sorted(os.listdir(os.path.join(src, 'blobs/sha256'))):
        data = open(os.path.join(src, 'blobs/sha256', name), 'rb').read()
        if name != hex:
            add(t, 'blobs/sha256/' + name, data); continue
        ${edit}
`;
    await runOk('python3', ['-c', script, layout, out, hex, config.slice('sha256:'.length)]);
    return out;
  }

  /** Each tampering, and what the import's one error line says. */
  const cases: Record<string, { edit: string; error: string }> = {
    'wrong content, same size': { edit: `add(t, 'blobs/sha256/' + name, bytes(len(data)))`, error: 'digest mismatch' },
    truncated: { edit: `add(t, 'blobs/sha256/' + name, data[:-10])`, error: 'bytes, the manifest says' },
    'extra bytes': { edit: `add(t, 'blobs/sha256/' + name, data + b'x' * 10)`, error: 'bytes, the manifest says' },
    'a symlink to another blob': { edit: `add(t, 'blobs/sha256/' + name, b'', type=tarfile.SYMTYPE, linkname=cfg)`, error: 'bytes, the manifest says' },
    'a symlink outside': { edit: `add(t, 'blobs/sha256/' + name, b'', type=tarfile.SYMTYPE, linkname='../../../../etc/hostname')`, error: 'points outside the archive' },
    'a hard link to another blob': { edit: `add(t, 'blobs/sha256/' + name, b'', type=tarfile.LNKTYPE, linkname='blobs/sha256/' + cfg)`, error: 'bytes, the manifest says' },
    'a good entry, then a bad one': { edit: `add(t, 'blobs/sha256/' + name, data); add(t, 'blobs/sha256/' + name, bytes(len(data)))`, error: 'digest mismatch' },
    'only outside blobs/': { edit: `add(t, '../blobs/sha256/' + name, data)`, error: 'contains a ".." component' },
    'an absolute name': { edit: `add(t, '/blobs/sha256/' + name, data)`, error: 'has an absolute path' },
  };

  before(async () => {
    root = await cleanup.tempDir('archive-tampered');
    layout = join(root, 'img');
    const img = await buildImage(layout, { seed: 912, layers: 1, layerSize: 2_000 });
    layer = img.manifests[0]!.layers[0]!.digest;
    config = img.manifests[0]!.configDigest;
    digest = img.manifests[0]!.digest;
  });

  Object.entries(cases).forEach(([what, { edit, error }], i) => {
    it(`a layer entry with ${what}: the import fails with one line naming it, no manifest is pushed; verify-archive fails too`, async () => {
      const archive = await tampered(`t${i}.tar`, edit);
      const r = await ferry(['sync', '-q', '--src', 'oci-archive', '--dest', 'docker', ...tls, archive, `${registry().host}/t${i}`]);
      expect(r.code, r.stderr).to.not.equal(0);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.include(error);
      expect(await remoteDigest(registry(), `t${i}/latest`, 'latest'), r.stderr).to.equal(undefined);
      const v = await ferry(['verify-archive', archive]);
      expect(v.code, `verify-archive: ${v.stdout}${v.stderr}`).to.not.equal(0);
    });
  });

  it('a ferry-archive.json that says a blob the archive carries is expected at the destination: the blob is read from the archive', async () => {
    const doc = `json.dumps({'ferryArchive': 1, 'carries': [], 'expects': [{'digest': 'sha256:' + name, 'size': len(data), 'in': 'old.tar'}]}).encode()`;
    const archive = await tampered('claims.tar', `add(t, 'blobs/sha256/' + name, data); add(t, 'ferry-archive.json', ${doc})`);
    const r = await ferry(['sync', '-q', '--src', 'oci-archive', '--dest', 'docker', ...tls, archive, `${registry().host}/claims`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteDigest(registry(), 'claims/latest', 'latest')).to.equal(digest);
  });

  it('a ferry-archive.json naming a malformed digest: the import and verify-archive fail with one line naming it, nothing is pushed', async () => {
    const doc = `json.dumps({'ferryArchive': 1, 'carries': [], 'expects': [{'digest': 'sha256:../../x', 'size': 1, 'in': 'old.tar'}]}).encode()`;
    const archive = await tampered('bad-doc.tar', `add(t, 'blobs/sha256/' + name, data); add(t, 'ferry-archive.json', ${doc})`);
    const r = await ferry(['sync', '-q', '--src', 'oci-archive', '--dest', 'docker', ...tls, archive, `${registry().host}/baddoc`]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.include('ferry-archive.json: expects[0] is not a blob');
    expect(await remoteDigest(registry(), 'baddoc/latest', 'latest')).to.equal(undefined);
    const v = await ferry(['verify-archive', archive]);
    expect(v.code).to.not.equal(0);
    expect(v.stderr).to.include('ferry-archive.json: expects[0] is not a blob');
  });

  it('a bad entry, then a good one: the later entry is the blob (as tar extracts it), for the import and verify-archive alike', async () => {
    const archive = await tampered('dup.tar', `add(t, 'blobs/sha256/' + name, bytes(len(data))); add(t, 'blobs/sha256/' + name, data)`);
    const v = await ferry(['verify-archive', archive]);
    expect(v.code, v.stdout + v.stderr).to.equal(0);
    const r = await ferry(['sync', '-q', '--src', 'oci-archive', '--dest', 'docker', ...tls, archive, `${registry().host}/dup`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await remoteDigest(registry(), 'dup/latest', 'latest')).to.equal(digest);
  });
});
