import { expect } from 'chai';
import { mkdir, readFile, stat, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  authFileForWriting, authFilesForReading, authKeys, lookupCredentials, removeAllCredentials,
  removeCredentials, saveCredentials,
} from '../../src/config/auth-file.js';
import { FerryError } from '../../src/errors.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

const ENV = ['REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'DOCKER_CONFIG'] as const;
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('config/auth-file', () => {
  let home: string;
  const saved: Record<string, string | undefined> = {};
  beforeEach(async () => {
    home = await makeTempDir('authfile');
    for (const k of ENV) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    process.env['XDG_RUNTIME_DIR'] = join(home, 'run');
  });
  afterEach(async () => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await removeDir(home);
  });

  const write = async (rel: string, content: unknown) => {
    const p = join(home, rel);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };

  it('chooses the file to write: --authfile, then REGISTRY_AUTH_FILE, then $XDG_RUNTIME_DIR, then /run/containers/<uid>', () => {
    expect(authFileForWriting({ authFile: '/x/a.json', homeDir: home })).to.equal('/x/a.json');
    process.env['REGISTRY_AUTH_FILE'] = '/y/b.json';
    expect(authFileForWriting({ homeDir: home })).to.equal('/y/b.json');
    delete process.env['REGISTRY_AUTH_FILE'];
    expect(authFileForWriting({ homeDir: home })).to.equal(join(home, 'run/containers/auth.json'));
    delete process.env['XDG_RUNTIME_DIR'];
    expect(authFileForWriting({ homeDir: home })).to.equal(`/run/containers/${process.getuid!()}/auth.json`);
  });

  it('lists the files to read in the containers order', () => {
    expect(authFilesForReading({ homeDir: home })).to.deep.equal([
      join(home, 'run/containers/auth.json'),
      join(home, '.config/containers/auth.json'),
      join(home, '.docker/config.json'),
      join(home, '.dockercfg'),
    ]);
    process.env['XDG_CONFIG_HOME'] = join(home, 'cfg');
    process.env['DOCKER_CONFIG'] = join(home, 'dk');
    expect(authFilesForReading({ homeDir: home, authFile: join(home, 'explicit.json') })).to.deep.equal([
      join(home, 'explicit.json'),
      join(home, 'cfg/containers/auth.json'),
      join(home, 'dk/config.json'),
      join(home, '.dockercfg'),
    ]);
  });

  it('derives keys from the most specific to the host', () => {
    expect(authKeys('reg.io', 'ns/sub/repo')).to.deep.equal(['reg.io/ns/sub/repo', 'reg.io/ns/sub', 'reg.io/ns', 'reg.io']);
  });

  it('finds the most specific key, in the first file that has one', async () => {
    await write('run/containers/auth.json', { auths: { 'reg.io': { auth: b64('host:h') }, 'reg.io/ns': { auth: b64('ns:n') } } });
    await write('.config/containers/auth.json', { auths: { 'reg.io/ns/repo': { auth: b64('repo:r') } } });
    const ctx = { homeDir: home };
    expect(await lookupCredentials('reg.io', 'ns/repo', ctx)).to.deep.equal({ username: 'ns', password: 'n' });
    expect(await lookupCredentials('reg.io', 'other/repo', ctx)).to.deep.equal({ username: 'host', password: 'h' });
    expect(await lookupCredentials('nope.io', 'x', ctx)).to.equal(undefined);
    // A password containing ':' survives.
    await write('run/containers/auth.json', { auths: { 'reg.io': { auth: b64('u:p:a:ss') } } });
    expect(await lookupCredentials('reg.io', 'x', ctx)).to.deep.equal({ username: 'u', password: 'p:a:ss' });
  });

  it('matches docker.io with the legacy https://index.docker.io/v1/ key of docker config.json, and reads identitytoken', async () => {
    await write('.docker/config.json', { auths: { 'https://index.docker.io/v1/': { auth: b64('d:pw'), identitytoken: 'refresh-me' } } });
    expect(await lookupCredentials('docker.io', 'library/busybox', { homeDir: home })).to.deep.equal({
      username: 'd', password: 'pw', identityToken: 'refresh-me',
    });
    await write('.dockercfg', { 'https://legacy.io/v1/': { auth: b64('l:x') } });
    expect(await lookupCredentials('legacy.io', 'a', { homeDir: home })).to.deep.equal({ username: 'l', password: 'x' });
  });

  it('fails with E_CONFIG on invalid JSON without quoting the file', async () => {
    await write('run/containers/auth.json', '{"auths": {"r.io": {"auth": "c2VjcmV0OnB3"}');
    const e = await lookupCredentials('r.io', 'x', { homeDir: home }).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_CONFIG');
    expect((e as Error).message).not.to.include('c2VjcmV0');
  });

  it('saves atomically with mode 0600 in a 0700 folder, keeping other entries and fields', async () => {
    const file = join(home, 'newdir/sub/auth.json');
    await saveCredentials(file, 'a.io', { username: 'u1', password: 'p1' });
    await writeFile(file, JSON.stringify({ auths: { ...JSON.parse(await readFile(file, 'utf8')).auths, 'keep.io': { auth: b64('k:k') } }, credHelpers: { 'x.io': 'y' } }));
    await saveCredentials(file, 'b.io/ns', { username: 'u2', password: 'p2' });
    const j = JSON.parse(await readFile(file, 'utf8'));
    expect(j.auths).to.deep.equal({ 'a.io': { auth: b64('u1:p1') }, 'keep.io': { auth: b64('k:k') }, 'b.io/ns': { auth: b64('u2:p2') } });
    expect(j.credHelpers).to.deep.equal({ 'x.io': 'y' });
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect((await stat(join(home, 'newdir/sub'))).mode & 0o777).to.equal(0o700);
    expect((await readdir(join(home, 'newdir/sub'))).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    expect(await lookupCredentials('b.io', 'ns/repo', { homeDir: home, authFile: file })).to.deep.equal({ username: 'u2', password: 'p2' });
  });

  it('removes one entry (false when absent) or all of them', async () => {
    const file = join(home, 'auth.json');
    await saveCredentials(file, 'a.io', { username: 'u', password: 'p' });
    await saveCredentials(file, 'b.io', { username: 'u', password: 'p' });
    expect(await removeCredentials(file, 'a.io')).to.equal(true);
    expect(await removeCredentials(file, 'a.io')).to.equal(false);
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).auths)).to.deep.equal(['b.io']);
    await removeAllCredentials(file);
    expect(JSON.parse(await readFile(file, 'utf8')).auths).to.deep.equal({});
    expect(await removeCredentials(join(home, 'missing.json'), 'a.io')).to.equal(false);
    await removeAllCredentials(join(home, 'missing.json'));
  });
});
