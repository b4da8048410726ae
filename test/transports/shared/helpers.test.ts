import { expect } from 'chai';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '../../../src/errors.js';
import { openFileBlob, readWholeFile } from '../../../src/transports/shared/files.js';
import { resolveExplicitPath } from '../../../src/transports/shared/paths.js';
import { useCleanup } from '../../harness/tmp.js';
import { readAll, rejection } from '../../harness/expect.js';

describe('transports/shared', () => {
  const cleanup = useCleanup();

  it('resolveExplicitPath resolves symlinks of existing paths and of the parent of missing ones', async () => {
    const dir = resolveExplicitPath(await cleanup.tempDir('paths'));
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    expect(resolveExplicitPath(join(dir, 'link'))).to.equal(join(dir, 'real'));
    expect(resolveExplicitPath(join(dir, 'link', 'new'))).to.equal(join(dir, 'real', 'new'));
    expect(resolveExplicitPath(join(dir, 'gone', 'deeper'))).to.equal(join(dir, 'gone', 'deeper'));
  });

  it('openFileBlob streams from an offset and reports the full size; missing → E_NOT_FOUND', async () => {
    const dir = await cleanup.tempDir('files');
    const data = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    await writeFile(join(dir, 'blob'), data);
    const whole = await openFileBlob(join(dir, 'blob'), 'blob');
    expect(whole.size).to.equal(data.length);
    expect((await readAll(whole.stream)).equals(data)).to.equal(true);
    const tail = await openFileBlob(join(dir, 'blob'), 'blob', { offset: 1_000_000 });
    expect(tail.size).to.equal(data.length);
    expect((await readAll(tail.stream)).equals(data.subarray(1_000_000))).to.equal(true);
    expect((await rejection(openFileBlob(join(dir, 'blob'), 'blob', { offset: data.length + 1 }))).code).to.equal(ErrorCode.Io);
    const nf = await rejection(openFileBlob(join(dir, 'none'), 'blob sha256:x'));
    expect(nf.code).to.equal(ErrorCode.NotFound);
    expect(nf.message).to.include('blob sha256:x');
    expect((await rejection(readWholeFile(join(dir, 'none', 'x'), 'thing'))).code).to.equal(ErrorCode.NotFound);
  });

  it('openFileBlob honours an aborted signal', async () => {
    const dir = await cleanup.tempDir('files-abort');
    await writeFile(join(dir, 'blob'), 'x');
    const ac = new AbortController();
    ac.abort();
    expect((await rejection(openFileBlob(join(dir, 'blob'), 'blob', { signal: ac.signal }))).code).to.equal(ErrorCode.Aborted);
  });
});
