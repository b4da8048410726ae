import { expect } from 'chai';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MAX_SIGNATURE_SIZE, lookasideURL, readLookasideSignatures, writeLookasideSignatures } from '../../src/signature/lookaside.js';
import { ErrorCode } from '../../src/errors.js';
import { rejection } from '../harness/expect.js';
import { useCleanup } from '../harness/tmp.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('signature: lookaside storage', function () {
  const cleanup = useCleanup('after');

  it('names signatures BASE/ns/repo@sha256=HEX/signature-N', () => {
    expect(lookasideURL('file:///var/lib/containers/sigstore/', 'team/app', DIGEST, 0).href).to.equal(`file:///var/lib/containers/sigstore/team/app@sha256=${'ab'.repeat(32)}/signature-1`);
    expect(lookasideURL('https://sigs.example.com/base', 'a', DIGEST, 2).href).to.equal(`https://sigs.example.com/base/a@sha256=${'ab'.repeat(32)}/signature-3`);
  });

  it('writes signature-1…N, removes stale ones after them, and reads them back until the first missing one', async () => {
    const base = await cleanup.tempDir('look');
    const url = `file://${base}`;
    await writeLookasideSignatures(url, 'ns/repo', DIGEST, [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]);
    expect((await readLookasideSignatures(url, 'ns/repo', DIGEST, {})).map(String)).to.deep.equal(['one', 'two', 'three']);
    await writeLookasideSignatures(url, 'ns/repo', DIGEST, [Buffer.from('new')]);
    const dir = path.join(base, `ns/repo@sha256=${'ab'.repeat(32)}`);
    expect((await readdir(dir)).sort()).to.deep.equal(['signature-1']);
    expect(await readFile(path.join(dir, 'signature-1'), 'utf8')).to.equal('new');
    expect(await readLookasideSignatures(url, 'other', DIGEST, {})).to.deep.equal([]);
  });

  it('refuses oversized signatures, non-regular files, unsupported schemes, and never replaces what is not a file', async () => {
    const base = await cleanup.tempDir('look-bad');
    const url = `file://${base}`;
    const dir = path.join(base, `r@sha256=${'ab'.repeat(32)}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'signature-1'), Buffer.alloc(MAX_SIGNATURE_SIZE + 1));
    const big = await rejection(readLookasideSignatures(url, 'r', DIGEST, {}));
    expect([big.code, big.message]).to.deep.equal([ErrorCode.Signature, `signature ${path.join(dir, 'signature-1')} is larger than 4 MiB: refusing to read it`]);
    const dir2 = path.join(base, `d@sha256=${'ab'.repeat(32)}`);
    await mkdir(path.join(dir2, 'signature-1'), { recursive: true });
    const notFile = await rejection(readLookasideSignatures(url, 'd', DIGEST, {}));
    expect([notFile.code, notFile.message]).to.deep.equal([ErrorCode.Signature, `signature ${path.join(dir2, 'signature-1')} is a directory, not a regular file`]);
    expect((await rejection(writeLookasideSignatures(url, 'd', DIGEST, [Buffer.from('x')]))).message).to.contain('not a regular file');
    const dir3 = path.join(base, `l@sha256=${'ab'.repeat(32)}`);
    await mkdir(dir3, { recursive: true });
    await symlink('/etc/passwd', path.join(dir3, 'signature-1'));
    expect((await rejection(writeLookasideSignatures(url, 'l', DIGEST, [Buffer.from('x')]))).message).to.contain('not a regular file');
    expect((await rejection(readLookasideSignatures('ftp://x/y', 'r', DIGEST, {}))).message).to.contain('not supported');
    expect((await rejection(writeLookasideSignatures('https://x/y', 'r', DIGEST, [Buffer.from('x')]))).message).to.contain('lookaside-staging');
  });
});
