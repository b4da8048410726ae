import { expect } from 'chai';
import { compressionStep, type CompressionPolicy } from '../../src/copy/blob.js';
import { blobProgress } from '../../src/copy/progress.js';
import type { ProgressEvent } from '../../src/types/progress.js';

describe('copy: compression decisions and progress throttling', () => {
  const p = (o: Partial<CompressionPolicy>): CompressionPolicy => ({ canModify: true, desired: 'preserve', ...o });

  it('follows containers/image: compress plain layers, recompress only for an explicit other format, decompress on request', () => {
    expect(compressionStep('none', p({ desired: 'compress' }))).to.deep.equal({ op: 'compress', to: 'gzip' });
    expect(compressionStep('none', p({ desired: 'compress', explicitFormat: 'zstd' }))).to.deep.equal({ op: 'compress', to: 'zstd' });
    expect(compressionStep('gzip', p({ desired: 'compress' }))).to.deep.equal({ op: 'preserve' });
    expect(compressionStep('gzip', p({ desired: 'compress', explicitFormat: 'gzip' }))).to.deep.equal({ op: 'preserve' });
    expect(compressionStep('gzip', p({ desired: 'compress', explicitFormat: 'zstd' }))).to.deep.equal({ op: 'recompress', to: 'zstd' });
    expect(compressionStep('zstd', p({ desired: 'decompress' }))).to.deep.equal({ op: 'decompress', to: 'none' });
    expect(compressionStep('none', p({ desired: 'decompress' }))).to.deep.equal({ op: 'preserve' });
    expect(compressionStep('bzip2', p({ desired: 'decompress' }))).to.deep.equal({ op: 'decompress', to: 'none' });
    expect(compressionStep('xz', p({ desired: 'decompress' }))).to.deep.equal({ op: 'decompress', to: 'none' });
    expect(compressionStep('xz', p({ desired: 'compress' }))).to.deep.equal({ op: 'preserve' });
    expect(compressionStep('xz', p({ desired: 'compress', explicitFormat: 'gzip' }))).to.deep.equal({ op: 'recompress', to: 'gzip' });
    expect(compressionStep('none', p({ desired: 'compress', canModify: false }))).to.deep.equal({ op: 'preserve' });
  });

  it('emits bytes events at most once per interval, and start/done/skipped always', async () => {
    const events: ProgressEvent[] = [];
    const r = blobProgress((e) => events.push(e), { digest: 'sha256:x', size: 100, role: 'layer' }, 50);
    r.start(0);
    for (let i = 1; i <= 10; i++) r.bytes(i);
    await new Promise((res) => setTimeout(res, 60));
    r.bytes(50);
    r.done(100);
    expect(events.map((e) => [e.kind, e.offset])).to.deep.equal([
      ['start', 0],
      ['bytes', 50],
      ['done', 100],
    ]);
    const throwing = blobProgress(() => {
      throw new Error('renderer bug');
    }, { digest: 'sha256:x', size: 1, role: 'config' });
    expect(() => throwing.skipped('already exists')).to.not.throw();
  });
});
