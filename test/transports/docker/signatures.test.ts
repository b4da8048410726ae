/** Where the signatures of a docker:// image live: registries.d is read once per context (command), not per image. */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerReference } from '../../../src/transports/docker/reference.js';
import { signatureLocations } from '../../../src/transports/docker/signatures.js';
import type { SystemContext } from '../../../src/types/context.js';
import { useCleanup } from '../../harness/tmp.js';

describe('transports/docker/signatures: locations', () => {
  const cleanup = useCleanup();

  it('reads registries.d once per context: every image of a sync shares it; a new context reads it again', async () => {
    const dir = await cleanup.tempDir('regd-once');
    const file = join(dir, 'a.yaml');
    await writeFile(file, 'docker:\n  reg.example.com:\n    lookaside: file:///one\n');
    const ctx: SystemContext = { registriesDirPath: dir };
    const first = await signatureLocations(DockerReference.fromName('reg.example.com/a:1'), ctx);
    expect(first.lookasideRead).to.equal('file:///one');
    await writeFile(file, 'docker:\n  reg.example.com:\n    lookaside: file:///two\n');
    // another image of the same command: the configuration as read at first
    expect((await signatureLocations(DockerReference.fromName('reg.example.com/b:2'), ctx)).lookasideRead).to.equal('file:///one');
    expect((await signatureLocations(DockerReference.fromName('reg.example.com/a:1'), { ...ctx })).lookasideRead).to.equal('file:///two');
  });
});
