import { expect } from 'chai';
import { chmod, cp, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, type BuiltImage, layoutBlobPath } from '../../harness/images.js';
import { run, runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { expectDevicesIntact, FERRY, pipeline, q } from '../docker-archive/pipes.js';

/** bash running `writer` in the background and `reader`; the pipeline statuses are theirs, in that order. */
function both(writer: string, reader: string): string {
  return `${writer} & pid=$!\n${reader}; r=$?; wait $pid; w=$?\n(exit $w) | (exit $r)`;
}

/** Every file under `dir` with its bytes (to compare two OCI layouts). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const p = join(e.parentPath, e.name);
    out[p.slice(dir.length)] = (await readFile(p)).toString('base64');
  }
  return out;
}

describe('transports/oci-archive: streams (real pipes, FIFOs and devices)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup();
  let root: string;
  let img: BuiltImage;
  let src: string;
  /** ferry's archive of `img` written to a regular file (the bytes every stream must get). */
  let ours: Buffer;
  let oursPath: string;
  /** `img` copied by ferry from that file into an OCI layout. */
  let reference: Record<string, string>;

  before(async () => {
    root = await cleanup.tempDir('oci-archive-stream');
    img = await buildImage(join(root, 'img'), { seed: 32, tag: 't', layers: 3, layerSize: 100_000 });
    src = `oci:${img.layoutDir}:t`;
    oursPath = join(root, 'ours.tar');
    let r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:${q(oursPath)}:t`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
    ours = await readFile(oursPath);
    r = await pipeline(`${FERRY} copy -q oci-archive:${q(oursPath)}:t oci:${q(join(root, 'ref'))}:t`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
    reference = await tree(join(root, 'ref'));
  });

  afterEach(() => expectDevicesIntact());

  it('writes oci-archive:/dev/stdout into a pipe: the bytes it writes into a file', async () => {
    const out = join(root, 'pipe.tar');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:/dev/stdout:t | cat > ${q(out)}`);
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await readFile(out)).equals(ours)).to.equal(true);
  });

  it('writes through a /dev/stdout-like symlink of its own into a pipe, leaving the symlink', async () => {
    const link = join(root, 'my-stdout');
    await symlink('/proc/self/fd/1', link);
    const out2 = join(root, 'link.tar');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:${q(link)}:t | cat > ${q(out2)}`);
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await readlink(link)).to.equal('/proc/self/fd/1');
    expect((await readFile(out2)).equals(ours)).to.equal(true);
  });

  it('copies ferry → ferry through a pipe (/dev/stdout | /dev/stdin), the input spooled in $TMPDIR and removed', async () => {
    const tmp = join(root, 'tmpdir-1');
    await mkdir(tmp);
    const out = join(root, 'ferry-ferry');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:/dev/stdout:t | ${FERRY} copy -q oci-archive:/dev/stdin:t oci:${q(out)}:t`, { TMPDIR: tmp });
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await tree(out)).to.deep.equal(reference);
    expect(await readdir(tmp)).to.deep.equal([]);
  });

  it('ferry → FIFO → ferry, skopeo → FIFO → ferry and ferry → FIFO → skopeo (skopeo 1.9 takes no oci-archive from /dev/stdin or to /dev/stdout), leaving the FIFO', async () => {
    const fifo = join(root, 'fifo-1');
    await runOk('mkfifo', [fifo]);
    const out = join(root, 'fifo-ferry');
    let r = await pipeline(both(`${FERRY} copy -q ${q(src)} oci-archive:${q(fifo)}:t`, `${FERRY} copy -q oci-archive:${q(fifo)}:t oci:${q(out)}:t`));
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await tree(out)).to.deep.equal(reference);
    const out2 = join(root, 'skopeo-ferry');
    r = await pipeline(both(`skopeo --insecure-policy copy -q ${q(src)} oci-archive:${q(fifo)}:t`, `${FERRY} copy -q oci-archive:${q(fifo)}:t oci:${q(out2)}:t`));
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await tree(out2)).to.deep.equal(reference);
    const out3 = join(root, 'ferry-skopeo');
    r = await pipeline(both(`${FERRY} copy -q ${q(src)} oci-archive:${q(fifo)}:t`, `skopeo --insecure-policy copy -q oci-archive:${q(fifo)}:t oci:${q(out3)}:t`));
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    const skopeoRead = await runOk('skopeo', ['inspect', '--raw', `oci:${out3}:t`]);
    expect(skopeoRead.stdoutBytes.equals(img.manifests[0]!.bytes)).to.equal(true);
    expect((await lstat(fifo)).isFIFO()).to.equal(true);
  });

  it('writes into /dev/null, leaving it; still replaces a regular file, never a symlink to one', async () => {
    let r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:/dev/null:t`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
    // An empty regular file: a named image is added to an archive with content, and a file with content that is not
    // an archive is refused (test/transports/shared/multi-image-archive.test.ts).
    const file = join(root, 'old.tar');
    await writeFile(file, '');
    r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:${q(file)}:t`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
    expect((await readFile(file)).equals(ours)).to.equal(true);
    const link = join(root, 'link-to-old.tar');
    await symlink('old.tar', link);
    r = await pipeline(`${FERRY} copy -q ${q(src)} oci-archive:${q(link)}:t`);
    expect(r.statuses).to.deep.equal([1]);
    expect(r.stderr).to.match(/is a symbolic link to a regular file, which is never replaced/);
    expect(await readlink(link)).to.equal('old.tar');
    expect((await stat(file)).size).to.equal(ours.length);
  });

  it('a copy failing before its commit sends nothing and exits non-zero: the reader gets an empty input', async () => {
    const bad = join(root, 'bad');
    await cp(img.layoutDir, bad, { recursive: true });
    const last = layoutBlobPath(bad, img.manifests[0]!.layers[2]!.digest);
    await chmod(last, 0o644);
    const bytes = await readFile(last);
    bytes[bytes.length - 20] ^= 0xff;
    await writeFile(last, bytes);
    const out = join(root, 'cut.tar');
    const r = await pipeline(`${FERRY} copy -q oci:${q(bad)}:t oci-archive:/dev/stdout:t | cat > ${q(out)}`);
    expect(r.statuses[0], r.stderr).to.equal(1);
    expect((await readFile(out)).length).to.equal(0);
    expect((await run('tar', ['tf', out])).code).to.not.equal(0);
  });
});
