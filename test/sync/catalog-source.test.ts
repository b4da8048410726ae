import { expect } from 'chai';
import { ErrorCode } from '../../src/errors.js';
import { parseCatalogSource } from '../../src/sync/catalog-source.js';
import { errorOf } from '../harness/expect.js';

describe('sync/catalog-source: which --src docker SOURCE names a registry', () => {
  it('a bare host, or anything ending in /, is a registry (or a namespace of one)', () => {
    expect(parseCatalogSource('127.0.0.1:5000')).to.deep.equal({ host: '127.0.0.1:5000', prefix: '', label: '127.0.0.1:5000' });
    expect(parseCatalogSource('registry.example.com')).to.deep.equal({ host: 'registry.example.com', prefix: '', label: 'registry.example.com' });
    expect(parseCatalogSource('localhost')).to.deep.equal({ host: 'localhost', prefix: '', label: 'localhost' });
    expect(parseCatalogSource('localhost:5000/')).to.deep.equal({ host: 'localhost:5000', prefix: '', label: 'localhost:5000' });
    expect(parseCatalogSource('quay.io/team/')).to.deep.equal({ host: 'quay.io', prefix: 'team/', label: 'quay.io/team/' });
    expect(parseCatalogSource('quay.io/team/sub/')).to.deep.equal({ host: 'quay.io', prefix: 'team/sub/', label: 'quay.io/team/sub/' });
    expect(parseCatalogSource('team/')).to.deep.equal({ host: 'docker.io', prefix: 'team/', label: 'docker.io/team/' });
  });

  it('repositories and images stay what they were', () => {
    for (const s of ['busybox', 'ubuntu:22.04', 'my.app:1.0', 'quay.io/team/app', 'quay.io/team/app:1', '127.0.0.1:5000/app', `busybox@sha256:${'a'.repeat(64)}`]) {
      expect(parseCatalogSource(s), s).to.equal(undefined);
    }
  });

  it('refuses a registry source that cannot be one', () => {
    for (const s of ['Quay.io/Team/', 'quay.io//', 'quay.io/team:1/']) {
      expect(errorOf(() => parseCatalogSource(s)).code, s).to.equal(ErrorCode.InvalidReference);
    }
  });
});
