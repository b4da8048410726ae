/** policy.json scopes per transport, as containers/image resolves them (PolicyConfigurationIdentity / Namespaces). */
import { expect } from 'chai';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseImageName } from '../../src/transports/registry.js';
import { useCleanup } from '../harness/tmp.js';

const scopes = (name: string) => {
  const r = parseImageName(name);
  return [r.policyIdentity(), ...r.policyNamespaces()];
};

describe('transports: policy.json scopes', () => {
  const cleanup = useCleanup('after');

  it('docker: name:tag, repository, namespaces, host, then wildcard domains', () => {
    expect(scopes('docker://registry.example.com:5000/ns/sub/repo:1.0')).to.deep.equal([
      'registry.example.com:5000/ns/sub/repo:1.0',
      'registry.example.com:5000/ns/sub/repo',
      'registry.example.com:5000/ns/sub',
      'registry.example.com:5000/ns',
      'registry.example.com:5000',
      '*.example.com',
      '*.com',
    ]);
    expect(scopes('docker://busybox')).to.deep.equal(['docker.io/library/busybox:latest', 'docker.io/library/busybox', 'docker.io/library', 'docker.io', '*.io']);
    const d = `sha256:${'a'.repeat(64)}`;
    expect(parseImageName(`docker://localhost:5000/a@${d}`).policyIdentity()).to.equal(`localhost:5000/a@${d}`);
    // a name with both a tag and a digest has no identity: it is refused, as containers/image refuses it
    expect(() => parseImageName(`docker://localhost:5000/a:t@${d}`)).to.throw('docker references with both a tag and digest are not supported');
    expect(parseImageName('docker://localhost:5000/a').policyNamespaces()).to.deep.equal(['localhost:5000/a', 'localhost:5000']);
  });

  it('dir, oci, oci-archive: the resolved path (symbolic links followed), then its parents', async () => {
    const base = await cleanup.tempDir('scopes');
    await mkdir(join(base, 'real/img'), { recursive: true });
    await symlink(join(base, 'real'), join(base, 'link'));
    const parents = (p: string) => {
      const out: string[] = [];
      for (let q = p; q.lastIndexOf('/') > 0; ) out.push((q = q.slice(0, q.lastIndexOf('/'))));
      return out;
    };
    const real = join(base, 'real/img');
    expect(scopes(`dir:${join(base, 'link/img')}`)).to.deep.equal([real, ...parents(real)]);
    expect(scopes(`oci:${join(base, 'link/img')}:tag`)).to.deep.equal([real, real, ...parents(real)]);
    expect(scopes(`oci-archive:${join(base, 'link/img')}`)).to.deep.equal([real, real, ...parents(real)]);
  });

  it('docker-archive: only the default scope', () => {
    expect(scopes('docker-archive:/tmp/a.tar:busybox:1')).to.deep.equal(['']);
  });

  it('containers-storage: [driver@root] with name and ID, repository namespaces, then the store', () => {
    const id = 'b'.repeat(64);
    const d = `sha256:${'c'.repeat(64)}`;
    expect(scopes(`containers-storage:[vfs@/s+/r]example.com/ns/app:1@${id}`)).to.deep.equal([
      `[vfs@/s]example.com/ns/app:1@${id}`,
      '[vfs@/s]example.com/ns/app:1',
      '[vfs@/s]example.com/ns/app',
      '[vfs@/s]example.com/ns',
      '[vfs@/s]example.com',
      '[vfs@/s]',
      '[/s]',
    ]);
    expect(scopes(`containers-storage:[vfs@/s+/r]example.com/app:1@${d}`)).to.deep.equal([
      `[vfs@/s]example.com/app:1@${d}`,
      '[vfs@/s]example.com/app:1',
      '[vfs@/s]example.com/app',
      '[vfs@/s]example.com',
      '[vfs@/s]',
      '[/s]',
    ]);
    expect(scopes(`containers-storage:[vfs@/s+/r]${id}`)).to.deep.equal([`[vfs@/s]${id}`, '[vfs@/s]', '[/s]']);
  });
});
