import { expect } from 'chai';
import { contextFromArgs } from '../../../src/cli/options/registry.js';
import { parseDuration } from '../../../src/cli/options/duration.js';
import { registryKey } from '../../../src/cli/options/registry-key.js';
import { ErrorCode } from '../../../src/errors.js';

describe('cli/options/registry', () => {
  it('splits --creds at the first colon', () => {
    const ctx = contextFromArgs({ creds: 'me:pa:ss' }, '', {});
    expect(ctx.credentials).to.deep.equal({ username: 'me', password: 'pa:ss' });
  });

  it('reads --creds as skopeo does: USERNAME alone or USERNAME: has an empty password', () => {
    for (const side of ['', 'src-', 'dest-'] as const) {
      expect(contextFromArgs({ [`${side}creds`]: 'me' }, side, {}).credentials).to.deep.equal({ username: 'me', password: '' });
      expect(contextFromArgs({ [`${side}creds`]: 'me:' }, side, {}).credentials).to.deep.equal({ username: 'me', password: '' });
    }
    expect(contextFromArgs({ screds: 'me' }, 'src-', {}).credentials).to.deep.equal({ username: 'me', password: '' });
    expect(() => contextFromArgs({ creds: '' }, '', {})).to.throw("--creds: credentials can't be empty");
    expect(() => contextFromArgs({ 'dest-creds': ':pw' }, 'dest-', {})).to.throw("--dest-creds: username can't be empty");
    // --username/--password: both must be given, either may be empty (skopeo checks presence only)
    expect(contextFromArgs({ username: 'me', password: '' }, '', {}).credentials).to.deep.equal({ username: 'me', password: '' });
  });

  it('reads the per-side flags only for that side', () => {
    const args = { 'src-creds': 'a:b', 'dest-no-creds': true, 'dest-tls-verify': false, 'src-cert-dir': '/c' };
    const src = contextFromArgs(args, 'src-', {});
    const dest = contextFromArgs(args, 'dest-', {});
    expect(src).to.deep.include({ credentials: { username: 'a', password: 'b' }, certDir: '/c' });
    expect(src.tlsVerify).to.equal(undefined);
    expect(dest).to.deep.include({ noCreds: true, tlsVerify: false });
    expect(dest.credentials).to.equal(undefined);
  });

  it('refuses conflicting or incomplete credentials without echoing the password', () => {
    const bad: Record<string, unknown>[] = [
      { creds: 'a:b', username: 'a' },
      { creds: '' },
      { creds: ':secretpw' },
      { username: 'a' },
      { 'no-creds': true, creds: 'a:secretpw' },
    ];
    for (const args of bad) {
      try {
        contextFromArgs(args, '', {});
        expect.fail(`accepted ${JSON.stringify(args)}`);
      } catch (e) {
        expect((e as { code: string }).code).to.equal(ErrorCode.Usage);
        expect((e as Error).message).not.to.contain('secretpw');
      }
    }
  });

  it('takes REGISTRY_AUTH_FILE when --authfile is absent', () => {
    expect(contextFromArgs({}, '', { REGISTRY_AUTH_FILE: '/x/auth.json' }).authFile).to.equal('/x/auth.json');
    expect(contextFromArgs({ authfile: '/y' }, '', { REGISTRY_AUTH_FILE: '/x' }).authFile).to.equal('/y');
  });

  it('parses retry and platform flags', () => {
    const ctx = contextFromArgs({ 'retry-times': 5, 'retry-delay': '1m30s', 'override-arch': 'arm64', 'override-variant': 'v8' }, '', {});
    expect(ctx.retryTimes).to.equal(5);
    expect(ctx.retryDelayMs).to.equal(90_000);
    expect(ctx.platform).to.deep.equal({ os: undefined, architecture: 'arm64', variant: 'v8' });
    expect(() => contextFromArgs({ 'retry-times': -1 }, '', {})).to.throw(/retry-times/);
  });

  it('parses Go durations', () => {
    expect(parseDuration('500ms', 'f')).to.equal(500);
    expect(parseDuration('2', 'f')).to.equal(2000);
    expect(parseDuration('1h2m3s', 'f')).to.equal(3_723_000);
    expect(() => parseDuration('5 s', '--x')).to.throw(/--x: invalid duration/);
    expect(() => parseDuration('1sx', '--x')).to.throw(/invalid duration/);
  });

  it('normalizes login keys', () => {
    expect(registryKey('https://127.0.0.1:5000/')).to.deep.equal({ key: '127.0.0.1:5000', host: '127.0.0.1:5000' });
    expect(registryKey('index.docker.io')).to.deep.equal({ key: 'docker.io', host: 'docker.io' });
    expect(registryKey('quay.io/ns/repo')).to.deep.equal({ key: 'quay.io/ns/repo', host: 'quay.io' });
    expect(() => registryKey('quay.io/ns/repo:tag')).to.throw(/tag or digest/);
    expect(() => registryKey('quay.io/Ns')).to.throw(/invalid repository path/);
    // an image name's transport is not part of a registry: say so instead of calling it a tag
    expect(() => registryKey('docker://127.0.0.1:5000')).to.throw('invalid registry "docker://127.0.0.1:5000": name the registry without "docker://" (127.0.0.1:5000)');
  });
});
