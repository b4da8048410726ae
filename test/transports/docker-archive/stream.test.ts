import { expect } from 'chai';
import { createReadStream, readFileSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { partialLocationFor } from '../../../src/copy/partial.js';
import { ErrorCode } from '../../../src/errors.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { FERRY_BIN, ferryProcess } from '../../harness/cli.js';
import { buildImage, type BuiltImage, layoutBlobPath, pushImage } from '../../harness/images.js';
import { useRegistry } from '../../harness/registry.js';
import { run, runOk } from '../../harness/procs.js';
import { useCleanup } from '../../harness/tmp.js';
import { openDest, rejection, skopeoToArchive } from './helpers.js';
import { expectDevicesIntact, FERRY, pipeline, q } from './pipes.js';

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

describe('transports/docker-archive: streams (real pipes, FIFOs and devices)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup();
  const registry = useRegistry('http');
  let root: string;
  let img: BuiltImage;
  let src: string;
  /** skopeo's archive of `img` as `x/y:1`, written to a regular file. */
  let theirs: Buffer;
  let theirsPath: string;
  /** `img` copied by ferry from skopeo's archive file into an OCI layout (what every stream copy must give). */
  let reference: Record<string, string>;

  before(async () => {
    root = await cleanup.tempDir('docker-archive-stream');
    img = await buildImage(join(root, 'img'), { seed: 31, tag: 't', layers: 3, layerSize: 100_000 });
    src = `oci:${img.layoutDir}:t`;
    theirsPath = join(root, 'skopeo.tar');
    await skopeoToArchive(img, theirsPath, 'x/y:1');
    theirs = await readFile(theirsPath);
    const r = await pipeline(`${FERRY} copy -q docker-archive:${q(theirsPath)} oci:${q(join(root, 'ref'))}:t`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
    reference = await tree(join(root, 'ref'));
  });

  afterEach(() => expectDevicesIntact());

  it('writes docker-archive:/dev/stdout into a pipe: skopeo\'s bytes, /dev/stdout still a symlink', async () => {
    const out = join(root, 'pipe.tar');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} docker-archive:/dev/stdout:x/y:1 | cat > ${q(out)}`);
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await readFile(out)).equals(theirs)).to.equal(true);
    // stdout a socket (what Node's child_process gives): written through it, same bytes.
    const s = await ferryProcess(['copy', '-q', src, 'docker-archive:/dev/stdout:x/y:1']);
    expect(s.code, s.stderr).to.equal(0);
    expect(s.stdoutBytes.equals(theirs)).to.equal(true);
  });

  it('writes through /dev/stdout redirected to a file', async () => {
    const redirected = join(root, 'redirected.tar');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} docker-archive:/dev/stdout:x/y:1 > ${q(redirected)}`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
    expect((await readFile(redirected)).equals(theirs)).to.equal(true);
  });

  it('writes through a /dev/stdout-like symlink of its own into a pipe, leaving the symlink', async () => {
    const link = join(root, 'my-stdout');
    await symlink('/proc/self/fd/1', link);
    const out = join(root, 'link.tar');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} docker-archive:${q(link)}:x/y:1 | cat > ${q(out)}`);
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await lstat(link)).isSymbolicLink()).to.equal(true);
    expect(await readlink(link)).to.equal('/proc/self/fd/1');
    expect((await readFile(out)).equals(theirs)).to.equal(true);
  });

  it('copies ferry → ferry through a pipe (/dev/stdout | /dev/stdin), spooling the input in $TMPDIR and removing it', async () => {
    const tmp = join(root, 'tmpdir-1');
    await mkdir(tmp);
    const out = join(root, 'ferry-ferry');
    const r = await pipeline(`${FERRY} copy -q ${q(src)} docker-archive:/dev/stdout:x/y:1 | ${FERRY} copy -q docker-archive:/dev/stdin oci:${q(out)}:t`, {
      TMPDIR: tmp,
    });
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await tree(out)).to.deep.equal(reference);
    expect(await readdir(tmp)).to.deep.equal([]);
  });

  it('reads what skopeo writes into a pipe (skopeo → ferry), and a gzip-compressed archive from a pipe', async () => {
    const out = join(root, 'skopeo-ferry');
    let r = await pipeline(
      `skopeo --insecure-policy copy -q ${q(src)} docker-archive:/dev/stdout:x/y:1 | ${FERRY} copy -q docker-archive:/dev/stdin oci:${q(out)}:t`,
    );
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await tree(out)).to.deep.equal(reference);
    const gz = join(root, 'gzip-ferry');
    r = await pipeline(`gzip -c ${q(theirsPath)} | ${FERRY} copy -q docker-archive:/dev/stdin oci:${q(gz)}:t`);
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect(await tree(gz)).to.deep.equal(reference);
  });

  it('writes into a FIFO and reads from one (ferry → FIFO → ferry, skopeo → FIFO → ferry), leaving the FIFOs', async () => {
    const fifo = join(root, 'fifo-1');
    await runOk('mkfifo', [fifo]);
    const out = join(root, 'fifo-ferry');
    let r = await pipeline(both(`${FERRY} copy -q ${q(src)} docker-archive:${q(fifo)}:x/y:1`, `${FERRY} copy -q docker-archive:${q(fifo)} oci:${q(out)}:t`));
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await lstat(fifo)).isFIFO()).to.equal(true);
    expect(await tree(out)).to.deep.equal(reference);
    const out2 = join(root, 'fifo-skopeo-ferry');
    r = await pipeline(both(`skopeo --insecure-policy copy -q ${q(src)} docker-archive:${q(fifo)}:x/y:1`, `${FERRY} copy -q docker-archive:${q(fifo)} oci:${q(out2)}:t`));
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await lstat(fifo)).isFIFO()).to.equal(true);
    expect(await tree(out2)).to.deep.equal(reference);
  });

  it('ferry → skopeo: what ferry writes into a FIFO is skopeo\'s archive, and skopeo reads it (skopeo 1.9 reads no docker-archive from a stream)', async () => {
    const fifo = join(root, 'fifo-2');
    await runOk('mkfifo', [fifo]);
    const got = join(root, 'from-fifo.tar');
    const r = await pipeline(both(`${FERRY} copy -q ${q(src)} docker-archive:${q(fifo)}:x/y:1`, `cat ${q(fifo)} > ${q(got)}`));
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await lstat(fifo)).isFIFO()).to.equal(true);
    expect((await readFile(got)).equals(theirs)).to.equal(true);
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${got}`, `oci:${join(root, 'skopeo-read')}:t`]);
  });

  it('from a registry into /dev/stdout: skopeo\'s bytes; partial downloads go to the cache folder, never beside a stream', async () => {
    await pushImage(img, registry(), 'stream/src:v1');
    const out = join(root, 'registry.tar');
    const r = await pipeline(`${FERRY} copy -q --src-tls-verify=false docker://${registry().host}/stream/src:v1 docker-archive:/dev/stdout:x/y:1 | cat > ${q(out)}`);
    expect(r.statuses, r.stderr).to.deep.equal([0, 0]);
    expect((await readFile(out)).equals(theirs)).to.equal(true);
    // Where the destinations ask for partials (opened on a character device: a FIFO would wait for its reader here).
    const home = join(root, 'home');
    const partialDir = async (name: string) => {
      const dest = await parseImageName(name).newImageDestination({ homeDir: home });
      try {
        return partialLocationFor(dest, { homeDir: home }).dir;
      } finally {
        await dest.close();
      }
    };
    for (const name of ['docker-archive:/dev/null', 'oci-archive:/dev/null']) {
      expect(await partialDir(name), name).to.equal(join(home, '.cache', 'ferry', 'partial', name.slice(0, name.indexOf(':'))));
    }
    expect(await partialDir(`docker-archive:${join(root, 'a.tar')}`)).to.equal(join(root, '.a.tar.ferry-partial'));
    expect(await partialDir(`oci-archive:${join(root, 'o.tar')}`)).to.equal(join(root, '.o.tar.ferry-partial'));
  });

  it('writes into /dev/null, leaving it', async () => {
    const r = await pipeline(`${FERRY} copy -q ${q(src)} docker-archive:/dev/null`);
    expect(r.statuses, r.stderr).to.deep.equal([0]);
  });

  it('never replaces a directory, a socket, a block device, a symlink to a file, a dangling symlink', async () => {
    const dir = join(root, 'refused');
    await mkdir(join(dir, 'a-dir'), { recursive: true });
    const server = createServer();
    await new Promise<void>((res) => server.listen(join(dir, 'a-socket'), res));
    cleanup.defer(() => new Promise<void>((res) => server.close(() => res())));
    await runOk('mknod', [join(dir, 'a-block-device'), 'b', '7', '250']);
    await writeFile(join(dir, 'file.tar'), '');
    await symlink('file.tar', join(dir, 'link-to-file'));
    await symlink('missing.tar', join(dir, 'dangling'));
    const cases: [string, RegExp, (p: string) => Promise<boolean>][] = [
      ['a-dir', /is a directory/, async (p) => (await lstat(p)).isDirectory()],
      ['a-socket', /is a socket/, async (p) => (await lstat(p)).isSocket()],
      ['a-block-device', /is a block device/, async (p) => (await lstat(p)).isBlockDevice()],
      ['link-to-file', /is a symbolic link to a regular file/, async (p) => (await lstat(p)).isSymbolicLink() && (await stat(p)).size === 0],
      ['dangling', /is a dangling symbolic link/, async (p) => (await lstat(p)).isSymbolicLink() && (await readlink(p)) === 'missing.tar'],
    ];
    for (const [name, message, unchanged] of cases) {
      const p = join(dir, name);
      for (const transport of ['docker-archive', 'oci-archive']) {
        const r = await run(process.execPath, [FERRY_BIN, 'copy', '-q', src, `${transport}:${p}`]);
        expect(r.code, `${transport}:${name}: ${r.stderr}`).to.equal(1);
        expect(r.stderr, name).to.match(message).and.match(/never replaced/);
        expect(await unchanged(p), `${transport}:${name} unchanged`).to.equal(true);
      }
    }
    expect((await readdir(dir)).sort()).to.deep.equal(['a-block-device', 'a-dir', 'a-socket', 'dangling', 'file.tar', 'link-to-file']);
  });

  it('a copy failing mid-way exits non-zero and stops the stream short: a prefix of the archive that tar readers refuse', async () => {
    const bad = join(root, 'bad');
    await cp(img.layoutDir, bad, { recursive: true });
    const last = layoutBlobPath(bad, img.manifests[0]!.layers[2]!.digest);
    await chmod(last, 0o644);
    const bytes = await readFile(last);
    bytes[bytes.length - 20] ^= 0xff; // still gzip, but not the digest
    await writeFile(last, bytes);
    const out = join(root, 'cut.tar');
    const r = await pipeline(`${FERRY} copy -q --image-parallel-copies 1 oci:${q(bad)}:t docker-archive:/dev/stdout:x/y:1 | cat > ${q(out)}`);
    expect(r.statuses[0], r.stderr).to.equal(1);
    expect(r.statuses[1]).to.equal(0);
    const cut = await readFile(out);
    expect(cut.length).to.be.lessThan(theirs.length);
    expect(cut.equals(theirs.subarray(0, cut.length)), 'a prefix of the whole archive').to.equal(true);
    expect((await run('tar', ['tf', out])).code).to.not.equal(0);
    const read = await pipeline(`${FERRY} copy -q docker-archive:/dev/stdin oci:${q(join(root, 'cut-read'))}:t < ${q(out)}`);
    expect(read.statuses).to.deep.equal([1]);
    expect(read.stderr).to.match(/truncated archive|not a valid tar|no end-of-archive/);
  });

  it('on close without commit, sends no more than it had sent, never up to the end of a layer entry', async () => {
    const fifo = join(root, 'fifo-3');
    await runOk('mkfifo', [fifo]);
    // Our own reader, counting what arrives.
    const received: Buffer[] = [];
    let have = 0;
    let waiting: { n: number; resolve: () => void } | undefined;
    const reader = createReadStream(fifo);
    reader.on('data', (c) => {
      received.push(c as Buffer);
      have += (c as Buffer).length;
      if (waiting && have >= waiting.n) waiting.resolve();
    });
    const ended = new Promise<void>((res) => reader.on('end', () => res()));
    const dest = await openDest(`docker-archive:${fifo}:x/y:1`);
    const m = img.manifests[0]!;
    const layers = m.layers.map((l) => gunzipSync(readFileSync(layoutBlobPath(img.layoutDir, l.digest))));
    dest.planLayers!(m.layers.map((l) => ({ digest: l.diffId })));
    for (let i = 0; i < 2; i++) await dest.putBlob(Readable.from([layers[i]!]), { digest: m.layers[i]!.diffId, size: layers[i]!.length });
    const entries = (n: number) => layers.slice(0, n).reduce((s, l) => s + 512 + Math.ceil(l.length / 512) * 512, 0);
    // Both layers are sent once staged; all but the last 512 bytes arrive.
    await new Promise<void>((resolve) => {
      waiting = { n: entries(2) - 512, resolve };
      if (have >= waiting.n) resolve();
    });
    await dest.close();
    await ended;
    const got = Buffer.concat(received);
    expect(got.length).to.equal(entries(2) - 512);
    expect(got.equals(theirs.subarray(0, got.length))).to.equal(true);
    expect((await lstat(fifo)).isFIFO()).to.equal(true);
    const e = await rejection(dest.commit());
    expect(e.code).to.equal(ErrorCode.Io);
  });
});

