import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { MAX_JSON_BYTES, openRegularFile, readBoundedFile, readRegularFile, readRegularFileSync } from '../../src/util/bounded-read.js';
import { makeDirs } from '../../src/util/make-dirs.js';
import { rejection } from '../harness/expect.js';
import { useCleanup } from '../harness/tmp.js';

describe('util/bounded-read and util/make-dirs', () => {
  const cleanup = useCleanup();

  it('reads a file of exactly the limit; one byte more is E_TOO_LARGE naming the file and the limit', async () => {
    const dir = await cleanup.tempDir('bounded');
    const ok = join(dir, 'ok');
    await writeFile(ok, Buffer.alloc(1024, 1));
    expect((await readBoundedFile(ok, { limit: 1024 })).length).to.equal(1024);
    const e = await rejection(readBoundedFile(ok, { limit: 1023, what: 'config x' }));
    expect(e.code).to.equal(ErrorCode.TooLarge);
    expect(e.message).to.equal('config x is larger than 1023 bytes: refusing to read it');
    expect(MAX_JSON_BYTES).to.equal(4 * 1024 * 1024);
  });

  it('stops reading a device or a pipe after the limit', async () => {
    const e = await rejection(readBoundedFile('/dev/zero', { limit: 100_000 }));
    expect(e.message).to.equal('/dev/zero is larger than 100000 bytes: refusing to read it');
    const dir = await cleanup.tempDir('bounded-fifo');
    const fifo = join(dir, 'fifo');
    await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('mkfifo')))));
    const writer = spawn('sh', ['-c', `yes > ${fifo}`]);
    try {
      const e2 = await rejection(readBoundedFile(fifo, { limit: 1 << 20 }));
      expect(e2.message).to.equal(`${fifo} is larger than 1 MiB: refusing to read it`);
    } finally {
      writer.kill();
    }
  });

  it('regularFile (and readRegularFileSync): a FIFO without a writer, a device or a directory is refused at once', async () => {
    const dir = await cleanup.tempDir('bounded-regular');
    const fifo = join(dir, 'fifo');
    await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('mkfifo')))));
    const cases: [string, string][] = [
      [fifo, `config ${fifo} is a FIFO, not a regular file`],
      ['/dev/zero', 'config /dev/zero is a character device, not a regular file'],
      [dir, `config ${dir} is a directory, not a regular file`],
    ];
    for (const [path, message] of cases) {
      const e = await rejection(readBoundedFile(path, { what: `config ${path}`, regularFile: true }));
      expect([e.code, e.message]).to.deep.equal([ErrorCode.Io, message]);
      let sync: unknown;
      try {
        readRegularFileSync(path, { what: `config ${path}` });
      } catch (x) {
        sync = x;
      }
      expect([(sync as FerryError).code, (sync as Error).message]).to.deep.equal([ErrorCode.Io, message]);
    }
    const big = join(dir, 'big');
    await writeFile(big, Buffer.alloc(2049, 1));
    expect(() => readRegularFileSync(big, { limit: 2048 })).to.throw(FerryError, `${big} is larger than 2 KiB: refusing to read it`);
    expect(readRegularFileSync(big, { limit: 4096 }).length).to.equal(2049);
    expect((await readBoundedFile(big, { regularFile: true })).length).to.equal(2049);
  });

  it('readRegularFile: noFollow refuses a link at the path itself, a directory can be skipped, a caller code marks every refusal', async () => {
    const dir = await cleanup.tempDir('bounded-options');
    const target = join(dir, 'target');
    await writeFile(target, 'abc');
    const link = join(dir, 'link');
    await symlink(target, link);
    expect(String(await readRegularFile(link))).to.equal('abc');
    const e = await rejection(readRegularFile(link, { noFollow: true, what: 'marker' }));
    expect([e.code, e.message]).to.deep.equal([ErrorCode.Io, 'marker is a symbolic link, not a regular file']);
    let sync: unknown;
    try {
      readRegularFileSync(link, { noFollow: true, what: 'marker' });
    } catch (x) {
      sync = x;
    }
    expect((sync as Error).message).to.equal('marker is a symbolic link, not a regular file');
    expect(await readRegularFile(dir, { directory: 'skip' })).to.equal(undefined);
    expect(await openRegularFile(dir, { directory: 'skip' })).to.equal(undefined);
    const d = await rejection(readRegularFile(dir, { what: 'the dir', code: ErrorCode.Config }));
    expect([d.code, d.message]).to.deep.equal([ErrorCode.Config, 'the dir is a directory, not a regular file']);
    const big = await rejection(readRegularFile(target, { limit: 2, what: 'sig', code: ErrorCode.Signature }));
    expect([big.code, big.message]).to.deep.equal([ErrorCode.Signature, 'sig is larger than 2 bytes: refusing to read it']);
    const fifo = join(dir, 'fifo');
    await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('mkfifo')))));
    const f = await rejection(readRegularFile(fifo, { directory: 'skip', code: ErrorCode.Config }));
    expect([f.code, f.message]).to.deep.equal([ErrorCode.Config, `${fifo} is a FIFO, not a regular file`]);
    const aborted = await rejection(readRegularFile(target, { signal: AbortSignal.abort() }));
    expect(aborted.code).to.equal(ErrorCode.Aborted);
  });

  it('keeps the file system error of a missing file (callers map it)', async () => {
    const e = await readBoundedFile('/nonexistent/x').catch((x: unknown) => x);
    expect(e).to.not.be.instanceOf(FerryError);
    expect((e as NodeJS.ErrnoException).code).to.equal('ENOENT');
  });

  it('makeDirs creates the missing levels and returns the outermost; fails at once under /proc', async () => {
    const dir = await cleanup.tempDir('mkdirs');
    expect(await makeDirs(join(dir, 'a', 'b', 'c'))).to.equal(join(dir, 'a'));
    expect(await makeDirs(join(dir, 'a', 'b'))).to.equal(undefined);
    await writeFile(join(dir, 'file'), '');
    expect(((await makeDirs(join(dir, 'file', 'x')).catch((x: unknown) => x)) as NodeJS.ErrnoException).code).to.equal('ENOTDIR');
    expect(((await makeDirs('/proc/nope/deeper').catch((x: unknown) => x)) as NodeJS.ErrnoException).code).to.equal('ENOENT');
    await mkdir(join(dir, 'exists'));
    expect(await makeDirs(join(dir, 'exists'))).to.equal(undefined);
  });
});
