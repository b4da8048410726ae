import { expect } from 'chai';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { AtomicFileSink, writeFileAtomic } from '../../src/util/atomic.js';
import { useCleanup } from '../harness/tmp.js';
import { chunked, seededRandom } from './fixtures.js';

describe('util/atomic', () => {
  const cleanup = useCleanup();
  const data = seededRandom(2 * 1024 * 1024 + 5, 3);

  it('writeFileAtomic replaces a file and leaves no temp file', async () => {
    const dir = await cleanup.tempDir('atomic');
    const p = join(dir, 'index.json');
    await writeFile(p, 'old');
    await writeFileAtomic(p, '{"new":true}', { mode: 0o600 });
    expect(await readFile(p, 'utf8')).to.equal('{"new":true}');
    expect((await stat(p)).mode & 0o777).to.equal(0o600);
    expect(await readdir(dir)).to.deep.equal(['index.json']);
  });

  it('writeFileAtomic fails with E_IO in a missing directory and with E_ABORTED when aborted', async () => {
    const dir = await cleanup.tempDir('atomic');
    let err: unknown;
    await writeFileAtomic(join(dir, 'missing', 'x'), 'x').catch((e) => (err = e));
    expect((err as FerryError).code).to.equal(ErrorCode.Io);
    // the message names what the caller gave, not the temporary file
    expect((err as FerryError).message).to.equal(`writing ${join(dir, 'missing', 'x')}: no such directory ${join(dir, 'missing')}`);
    // a parent that is a file
    await writeFile(join(dir, 'file'), '');
    err = undefined;
    await writeFileAtomic(join(dir, 'file', 'x'), 'x').catch((e) => (err = e));
    expect((err as FerryError).message).to.equal(`writing ${join(dir, 'file', 'x')}: no such directory ${join(dir, 'file')}`);
    await rm(join(dir, 'file'));
    const ac = new AbortController();
    ac.abort();
    err = undefined;
    await writeFileAtomic(join(dir, 'x'), 'x', { signal: ac.signal }).catch((e) => (err = e));
    expect((err as FerryError).code).to.equal(ErrorCode.Aborted);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('AtomicFileSink: the final path appears only at commit, with all bytes', async () => {
    const dir = await cleanup.tempDir('atomic');
    const p = join(dir, 'blob');
    const sink = await AtomicFileSink.open(p);
    expect(sink.tempPath.startsWith(`${p}.tmp-`)).to.equal(true);
    await pipeline(chunked(data), sink.stream);
    expect(await readdir(dir)).to.not.include('blob');
    await sink.commit();
    expect((await readFile(p)).equals(data)).to.equal(true);
    expect(await readdir(dir)).to.deep.equal(['blob']);
  });

  it('AtomicFileSink with {dir}: final name given at commit', async () => {
    const dir = await cleanup.tempDir('atomic');
    const sink = await AtomicFileSink.open({ dir });
    sink.stream.end(Buffer.from('abc'));
    await sink.commit(join(dir, 'named-later'));
    expect(await readdir(dir)).to.deep.equal(['named-later']);
  });

  it('AtomicFileSink: abort removes the temp file; a stream error aborts', async () => {
    const dir = await cleanup.tempDir('atomic');
    const sink = await AtomicFileSink.open(join(dir, 'a'));
    sink.stream.write(data);
    await sink.abort();
    await sink.abort();
    expect(sink.isOpen).to.equal(false);
    expect(await readdir(dir)).to.deep.equal([]);

    const sink2 = await AtomicFileSink.open(join(dir, 'b'));
    const failing = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    let err: unknown;
    await pipeline(failing, sink2.stream).catch((e) => (err = e));
    expect((err as Error).message).to.equal('source broke');
    await sink2.abort();
    expect(await readdir(dir)).to.deep.equal([]);
    let commitErr: unknown;
    await sink2.commit().catch((e) => (commitErr = e));
    expect(commitErr).to.be.instanceOf(FerryError);
  });

  it('AtomicFileSink: aborting the signal mid-stream leaves no file', async () => {
    const dir = await cleanup.tempDir('atomic');
    const ac = new AbortController();
    const sink = await AtomicFileSink.open(join(dir, 'c'), { signal: ac.signal });
    let sent = 0;
    const src = new Readable({
      read() {
        sent += 65536;
        if (sent === 65536 * 4) ac.abort();
        this.push(Buffer.alloc(65536));
      },
    });
    let err: unknown;
    await pipeline(src, sink.stream).catch((e) => (err = e));
    expect((err as FerryError).code).to.equal(ErrorCode.Aborted);
    let commitErr: unknown;
    await sink.commit().catch((e) => (commitErr = e));
    expect((commitErr as FerryError).code).to.be.oneOf([ErrorCode.Aborted, ErrorCode.Io]);
    await sink.abort();
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('AtomicFileSink.open fails with E_IO when the directory is missing', async () => {
    const dir = await cleanup.tempDir('atomic');
    let err: unknown;
    await AtomicFileSink.open(join(dir, 'nope', 'x')).catch((e) => (err = e));
    expect((err as FerryError).code).to.equal(ErrorCode.Io);
    expect((err as FerryError).message).to.equal(`writing ${join(dir, 'nope', 'x')}: no such directory ${join(dir, 'nope')}`);
  });
});
