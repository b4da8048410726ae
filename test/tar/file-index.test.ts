/**
 * Reading entries of an indexed tar in place: an empty range — an empty entry, or a read resumed at an entry's end —
 * is an empty stream, not an error of the file reader.
 */
import { expect } from 'chai';
import path from 'node:path';
import { indexTar } from '../../src/tar/file-index.js';
import { runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';

async function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('tar/file-index: openEntry', function () {
  const cleanup = useCleanup();

  it('an empty entry, and a read from the end of an entry, give no bytes', async () => {
    const dir = await cleanup.tempDir('tar-file-index');
    await runOk('sh', ['-c', `cd ${dir} && : > empty && printf abc > abc && tar -cf a.tar empty abc`]);
    const tar = await indexTar(path.join(dir, 'a.tar'), 'test tar');
    expect(await drain(tar.openEntry(tar.resolve('empty')!))).to.deep.equal(Buffer.alloc(0));
    const abc = tar.resolve('abc')!;
    expect((await drain(tar.openEntry(abc, { offset: 1 }))).toString()).to.equal('bc');
    expect(await drain(tar.openEntry(abc, { offset: 3 }))).to.deep.equal(Buffer.alloc(0));
  });
});
