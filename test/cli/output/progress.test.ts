import { expect } from 'chai';
import { blobLine, phaseLine, formatBytes, shortDigest } from '../../../src/cli/output/progress.js';

const D = 'sha256:4d69376f3a1c5a1e8b8e3e9f0a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8';

describe('cli/output/progress', () => {
  it('prints finished and skipped blobs like skopeo', () => {
    expect(blobLine({ kind: 'done', digest: D, size: 104_857_600, offset: 104_857_600 })).to.equal('Copying blob 4d69376f3a1c done | 100.0MiB');
    expect(blobLine({ kind: 'skipped', digest: D, size: 10, offset: 0, reason: 'already exists' })).to.equal('Copying blob 4d69376f3a1c skipped: already exists');
    expect(blobLine({ kind: 'done', digest: D, size: 777, offset: 777, role: 'config' })).to.equal('Copying config 4d69376f3a1c done | 777B');
    expect(shortDigest(D)).to.equal('4d69376f3a1c');
    expect(formatBytes(1536)).to.equal('1.5KiB');
  });

  it('says where a blob resumes, from an earlier run or after a failure', () => {
    expect(phaseLine({ kind: 'blob-resume', digest: D, offset: 2 * 1024 * 1024, attempt: 0 })).to.equal(
      'Resuming blob 4d69376f3a1c from an earlier run at 2.0MiB',
    );
    expect(phaseLine({ kind: 'blob-resume', digest: D, offset: 1024, attempt: 1, reason: 'connection reset' })).to.equal(
      'Resuming blob 4d69376f3a1c at 1.0KiB (attempt 2: connection reset)',
    );
    expect(phaseLine({ kind: 'manifest-write', list: true })).to.equal('Writing manifest list to image destination');
  });
});
