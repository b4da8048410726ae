import { expect } from 'chai';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { useCleanup } from '../../harness/tmp.js';
import { run } from '../../harness/procs.js';
import { ferry } from '../../harness/cli.js';

describe('cli/commands/manifest-digest', () => {
  const cleanup = useCleanup('after');
  it('agrees with skopeo manifest-digest', async () => {
    const file = path.join(await cleanup.tempDir('ferry-md-'), 'manifest.json');
    await writeFile(file, '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}');
    const f = await ferry(['manifest-digest', file]);
    const s = await run('skopeo', ['manifest-digest', file]);
    expect(f.code).to.equal(0);
    expect(f.stdout).to.equal(s.stdout);
    expect(f.stdout).to.match(/^sha256:[0-9a-f]{64}\n$/);
  });
  it('exits 2 for a missing file', async () => {
    const f = await ferry(['manifest-digest', '/nonexistent/manifest.json']);
    expect(f.code).to.equal(2);
    expect(f.stderr).to.contain('/nonexistent/manifest.json');
  });
  it('names a directory given instead of a manifest file in one line', async () => {
    const dir = await cleanup.tempDir('ferry-md-');
    const f = await ferry(['manifest-digest', dir]);
    expect(f.code).to.equal(1);
    expect(f.stderr).to.equal(`Error: reading manifest ${dir}: is a directory, not a file\n`);
  });
});
