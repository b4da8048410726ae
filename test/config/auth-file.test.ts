import { expect } from 'chai';
import { readFile, stat, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  authFileForWriting, authFilesForReading, authKeys, lookupCredentials, removeAllCredentials,
  removeCredentials, saveCredentials,
} from '../../src/config/auth-file.js';
import { FerryError } from '../../src/errors.js';
import { useAuthHome } from '../harness/auth-home.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('config/auth-file', () => {
  const t = useAuthHome('authfile');
  const write = t.write;

  it('chooses the file to write: --authfile, then REGISTRY_AUTH_FILE, then $XDG_RUNTIME_DIR, then /run/containers/<uid>', () => {
    expect(authFileForWriting({ authFile: '/x/a.json', homeDir: t.home })).to.equal('/x/a.json');
    process.env['REGISTRY_AUTH_FILE'] = '/y/b.json';
    expect(authFileForWriting({ homeDir: t.home })).to.equal('/y/b.json');
    delete process.env['REGISTRY_AUTH_FILE'];
    expect(authFileForWriting({ homeDir: t.home })).to.equal(join(t.home, 'run/containers/auth.json'));
    delete process.env['XDG_RUNTIME_DIR'];
    expect(authFileForWriting({ homeDir: t.home })).to.equal(`/run/containers/${process.getuid!()}/auth.json`);
  });

  it('lists the files to read in the containers order', () => {
    expect(authFilesForReading({ homeDir: t.home })).to.deep.equal([
      join(t.home, 'run/containers/auth.json'),
      join(t.home, '.config/containers/auth.json'),
      join(t.home, '.docker/config.json'),
      join(t.home, '.dockercfg'),
    ]);
    process.env['XDG_CONFIG_HOME'] = join(t.home, 'cfg');
    process.env['DOCKER_CONFIG'] = join(t.home, 'dk');
    expect(authFilesForReading({ homeDir: t.home, authFile: join(t.home, 'explicit.json') })).to.deep.equal([
      join(t.home, 'explicit.json'),
      join(t.home, 'cfg/containers/auth.json'),
      join(t.home, 'dk/config.json'),
      join(t.home, '.dockercfg'),
    ]);
  });

  it('derives keys from the most specific to the host', () => {
    expect(authKeys('reg.io', 'ns/sub/repo')).to.deep.equal(['reg.io/ns/sub/repo', 'reg.io/ns/sub', 'reg.io/ns', 'reg.io']);
  });

  it('finds the most specific key, in the first file that has one', async () => {
    await write('run/containers/auth.json', { auths: { 'reg.io': { auth: b64('host:h') }, 'reg.io/ns': { auth: b64('ns:n') } } });
    await write('.config/containers/auth.json', { auths: { 'reg.io/ns/repo': { auth: b64('repo:r') } } });
    const ctx = { homeDir: t.home };
    expect(await lookupCredentials('reg.io', 'ns/repo', ctx)).to.deep.equal({ username: 'ns', password: 'n' });
    expect(await lookupCredentials('reg.io', 'other/repo', ctx)).to.deep.equal({ username: 'host', password: 'h' });
    expect(await lookupCredentials('nope.io', 'x', ctx)).to.equal(undefined);
    // A password containing ':' survives.
    await write('run/containers/auth.json', { auths: { 'reg.io': { auth: b64('u:p:a:ss') } } });
    expect(await lookupCredentials('reg.io', 'x', ctx)).to.deep.equal({ username: 'u', password: 'p:a:ss' });
  });

  it('matches docker.io with the legacy https://index.docker.io/v1/ key of docker config.json, and reads identitytoken', async () => {
    await write('.docker/config.json', { auths: { 'https://index.docker.io/v1/': { auth: b64('d:pw'), identitytoken: 'refresh-me' } } });
    expect(await lookupCredentials('docker.io', 'library/busybox', { homeDir: t.home })).to.deep.equal({
      username: 'd', password: 'pw', identityToken: 'refresh-me',
    });
    await write('.dockercfg', { 'https://legacy.io/v1/': { auth: b64('l:x') } });
    expect(await lookupCredentials('legacy.io', 'a', { homeDir: t.home })).to.deep.equal({ username: 'l', password: 'x' });
  });

  it('fails with E_CONFIG on invalid JSON without quoting the file', async () => {
    await write('run/containers/auth.json', '{"auths": {"r.io": {"auth": "c2VjcmV0OnB3"}');
    const e = await lookupCredentials('r.io', 'x', { homeDir: t.home }).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_CONFIG');
    expect((e as Error).message).not.to.include('c2VjcmV0');
  });

  it('saves atomically with mode 0600 in a 0700 folder, keeping other entries and fields', async () => {
    const file = join(t.home, 'newdir/sub/auth.json');
    await saveCredentials(file, 'a.io', { username: 'u1', password: 'p1' });
    await writeFile(file, JSON.stringify({ auths: { ...JSON.parse(await readFile(file, 'utf8')).auths, 'keep.io': { auth: b64('k:k') } }, credHelpers: { 'x.io': 'y' } }));
    await saveCredentials(file, 'b.io/ns', { username: 'u2', password: 'p2' });
    const j = JSON.parse(await readFile(file, 'utf8'));
    expect(j.auths).to.deep.equal({ 'a.io': { auth: b64('u1:p1') }, 'keep.io': { auth: b64('k:k') }, 'b.io/ns': { auth: b64('u2:p2') } });
    expect(j.credHelpers).to.deep.equal({ 'x.io': 'y' });
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect((await stat(join(t.home, 'newdir/sub'))).mode & 0o777).to.equal(0o700);
    expect((await readdir(join(t.home, 'newdir/sub'))).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    expect(await lookupCredentials('b.io', 'ns/repo', { homeDir: t.home, authFile: file })).to.deep.equal({ username: 'u2', password: 'p2' });
  });

  it('removes one entry (false when absent) or all of them', async () => {
    const file = join(t.home, 'auth.json');
    await saveCredentials(file, 'a.io', { username: 'u', password: 'p' });
    await saveCredentials(file, 'b.io', { username: 'u', password: 'p' });
    expect(await removeCredentials(file, 'a.io')).to.equal(true);
    expect(await removeCredentials(file, 'a.io')).to.equal(false);
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).auths)).to.deep.equal(['b.io']);
    await removeAllCredentials(file);
    expect(JSON.parse(await readFile(file, 'utf8')).auths).to.deep.equal({});
    expect(await removeCredentials(join(t.home, 'missing.json'), 'a.io')).to.equal(false);
    await removeAllCredentials(join(t.home, 'missing.json'));
  });
});
