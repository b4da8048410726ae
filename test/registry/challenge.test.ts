import { expect } from 'chai';
import { parseChallenges } from '../../src/registry/challenge.js';
import { chooseChallenge } from '../../src/registry/auth.js';

describe('registry/challenge', () => {
  it('parses a Bearer challenge with quoted parameters', () => {
    const c = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    expect(c).to.deep.equal([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('handles escapes, commas inside quotes, spaces around "=", token values and case-insensitive names', () => {
    const c = parseChallenges('BEARER Realm = "https://x/token?a=1,b=2" , Service=svc, error="insufficient_scope", scope="a:b:pull push", note="say \\"hi\\" \\\\ ok"');
    expect(c).to.have.length(1);
    expect(c[0]!.scheme).to.equal('bearer');
    expect(c[0]!.params).to.deep.equal({
      realm: 'https://x/token?a=1,b=2',
      service: 'svc',
      error: 'insufficient_scope',
      scope: 'a:b:pull push',
      note: 'say "hi" \\ ok',
    });
  });

  it('splits several challenges in one header and across header values', () => {
    const c = parseChallenges(['Basic realm="Registry Realm", Bearer realm="https://t/token",service="s"', 'Negotiate abc123==']);
    expect(c.map((x) => x.scheme)).to.deep.equal(['basic', 'bearer', 'negotiate']);
    expect(c[0]!.params).to.deep.equal({ realm: 'Registry Realm' });
    expect(c[1]!.params).to.deep.equal({ realm: 'https://t/token', service: 's' });
    expect(c[2]!.token68).to.equal('abc123==');
  });

  it('survives garbage and empty input', () => {
    expect(parseChallenges(undefined)).to.deep.equal([]);
    expect(parseChallenges('')).to.deep.equal([]);
    const c = parseChallenges('Basic realm="unterminated');
    expect(c[0]).to.deep.equal({ scheme: 'basic', params: { realm: 'unterminated' } });
  });

  it('prefers Bearer (with a realm) over Basic', () => {
    expect(chooseChallenge(parseChallenges('Basic realm="r", Bearer realm="https://t"'))?.scheme).to.equal('bearer');
    expect(chooseChallenge(parseChallenges('Basic realm="r", Bearer service="no-realm"'))?.scheme).to.equal('basic');
    expect(chooseChallenge(parseChallenges('Negotiate x'))).to.equal(undefined);
  });
});
