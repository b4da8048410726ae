import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  lookupCredentials, lookupCredentialsDetailed, removeAllCredentials, removeCredentials, saveCredentials,
} from '../../src/config/auth-file.js';
import { helperGet } from '../../src/config/cred-helper.js';
import { FerryError } from '../../src/errors.js';
import { useAuthHome } from '../harness/auth-home.js';
import { HELPER_LEAK, writeCredHelper, type TestCredHelper } from '../harness/cred-helper.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('config/auth-file with credential helpers', function () {
  this.timeout(30_000);
  const t = useAuthHome('credhelper');
  const write = t.write;
  let helper: TestCredHelper;
  let other: TestCredHelper;
  beforeEach(async () => {
    helper = await writeCredHelper(join(t.home, 'h1'), 'ferrytest');
    other = await writeCredHelper(join(t.home, 'h2'), 'ferryother');
    process.env['PATH'] = `${helper.binDir}:${other.binDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`;
  });

  const ctx = () => ({ homeDir: t.home });

  it('asks the credHelpers entry of the host, with the host only, before the same file\'s auths', async () => {
    await helper.put('reg.io', 'hu', 'hs');
    await write('run/containers/auth.json', { auths: { 'reg.io/ns': { auth: b64('file:f') } }, credHelpers: { 'reg.io': 'ferrytest' } });
    expect(await lookupCredentialsDetailed('reg.io', 'ns/repo', ctx())).to.deep.equal({
      credentials: { username: 'hu', password: 'hs' }, file: join(t.home, 'run/containers/auth.json'), helper: 'ferrytest',
    });
    expect(await helper.calls()).to.deep.equal(['get reg.io']);
    // another registry of the same file is not the helper's
    await write('run/containers/auth.json', { auths: { 'other.io': { auth: b64('o:o') } }, credHelpers: { 'reg.io': 'ferrytest' } });
    expect(await lookupCredentials('other.io', 'x', ctx())).to.deep.equal({ username: 'o', password: 'o' });
    expect(await helper.calls()).to.deep.equal(['get reg.io']);
  });

  it('goes on to the next file when the helper has nothing, as containers/image does', async () => {
    await write('run/containers/auth.json', { credHelpers: { 'reg.io': 'ferrytest' } });
    await write('.docker/config.json', { auths: { 'reg.io': { auth: b64('docker:d') } } });
    expect(await lookupCredentials('reg.io', 'x', ctx())).to.deep.equal({ username: 'docker', password: 'd' });
    expect(await helper.calls()).to.deep.equal(['get reg.io']);
  });

  it('asks credsStore after the file\'s own entries, and before later files', async () => {
    await other.put('reg.io', 'store-user', 'store-pw');
    await other.put('both.io', 'store-user', 'store-pw');
    await write('.config/containers/auth.json', { auths: { 'both.io': { auth: b64('file:f') } }, credsStore: 'ferryother' });
    await write('.docker/config.json', { auths: { 'reg.io': { auth: b64('later:l') } } });
    expect(await lookupCredentials('both.io', 'x', ctx())).to.deep.equal({ username: 'file', password: 'f' });
    expect(await lookupCredentials('reg.io', 'x', ctx())).to.deep.equal({ username: 'store-user', password: 'store-pw' });
    expect(await lookupCredentials('none.io', 'x', ctx())).to.equal(undefined);
    expect(await other.calls()).to.deep.equal(['get reg.io', 'get none.io']);
  });

  it('reads a <token> username as an identity token, and Docker Hub as docker.io', async () => {
    await helper.put('docker.io', '<token>', 'refresh-token-1');
    await write('.docker/config.json', { credHelpers: { 'docker.io': 'ferrytest' } });
    expect(await lookupCredentials('registry-1.docker.io', 'library/busybox', ctx())).to.deep.equal({
      username: '', password: '', identityToken: 'refresh-token-1',
    });
  });

  it('fails naming a missing helper, and a failing one without anything it printed', async () => {
    await write('run/containers/auth.json', { credHelpers: { 'reg.io': 'not-installed-here' } });
    const missing = await lookupCredentials('reg.io', 'x', ctx()).catch((e: unknown) => e);
    expect(missing).to.be.instanceOf(FerryError).with.property('code', 'E_CREDENTIAL_HELPER');
    expect((missing as Error).message).to.equal('credential helper docker-credential-not-installed-here not found in $PATH');

    await write('run/containers/auth.json', { credHelpers: { 'reg.io': 'ferrytest' } });
    await helper.setFailing(true);
    const failed = await lookupCredentials('reg.io', 'x', ctx()).catch((e: unknown) => e);
    expect(failed).to.be.instanceOf(FerryError).with.property('code', 'E_CREDENTIAL_HELPER');
    expect((failed as Error).message).to.equal('credential helper docker-credential-ferrytest failed (get for reg.io): exit status 3');
    expect(JSON.stringify(failed) + String((failed as Error).stack)).not.to.contain(HELPER_LEAK);
  });

  it('refuses a helper name that is a path', async () => {
    await write('run/containers/auth.json', { credHelpers: { 'reg.io': '../../tmp/x' } });
    const e = await lookupCredentials('reg.io', 'x', ctx()).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_CONFIG');
  });

  it('does not take an answer that is not the protocol\'s JSON, without quoting it', async () => {
    const dir = join(t.home, 'bad');
    await mkdir(dir);
    await writeFile(join(dir, 'docker-credential-bad'), `#!/bin/sh\necho 'user=${HELPER_LEAK}'\n`, { mode: 0o755 });
    process.env['PATH'] = `${dir}:${process.env['PATH']}`;
    const e = await helperGet('bad', 'reg.io').catch((x: unknown) => x);
    expect((e as Error).message).to.equal('credential helper docker-credential-bad failed (get for reg.io): its answer is not JSON');
  });

  it('login stores in the helper and leaves the file alone; a namespaced key is refused', async () => {
    const file = await write('auth.json', { auths: {}, credHelpers: { 'reg.io': 'ferrytest' }, credsStore: 'ferryother' });
    const before = await readFile(file, 'utf8');
    expect(await saveCredentials(file, 'reg.io', { username: 'u', password: 'p' })).to.deep.equal({ helper: 'ferrytest' });
    expect(await helper.entry('reg.io')).to.deep.equal({ ServerURL: 'reg.io', Username: 'u', Secret: 'p' });
    // credsStore takes every other registry
    expect(await saveCredentials(file, 'else.io', { username: 'u2', password: 'p2' })).to.deep.equal({ helper: 'ferryother' });
    expect(await other.entry('else.io')).to.deep.equal({ ServerURL: 'else.io', Username: 'u2', Secret: 'p2' });
    expect(await readFile(file, 'utf8')).to.equal(before);
    const e = await saveCredentials(file, 'reg.io/team', { username: 'u', password: 'p' }).catch((x: unknown) => x);
    expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_USAGE');
    expect((e as Error).message).to.contain('docker-credential-ferrytest');
    // Docker's config.json spells Docker Hub as a URL; the helper is still asked for docker.io
    const compat = await write('config.json', { credHelpers: { 'docker.io': 'ferrytest' } });
    await saveCredentials(compat, 'https://index.docker.io/v1/', { username: 'd', password: 'dp' }, 'docker.io');
    expect(await helper.entry('docker.io')).to.deep.equal({ ServerURL: 'docker.io', Username: 'd', Secret: 'dp' });
  });

  it('logout erases from the helper and the file; false when neither had the registry', async () => {
    const file = await write('auth.json', { auths: { 'reg.io': { auth: b64('old:o') } }, credHelpers: { 'reg.io': 'ferrytest' } });
    await helper.put('reg.io', 'u', 'p');
    expect(await removeCredentials(file, 'reg.io')).to.equal(true);
    expect(await helper.entry('reg.io')).to.equal(undefined);
    expect(JSON.parse(await readFile(file, 'utf8')).auths).to.deep.equal({});
    expect(await removeCredentials(file, 'reg.io')).to.equal(false);
    await helper.put('reg.io', 'u', 'p');
    await helper.setFailing(true);
    const e = await removeCredentials(file, 'reg.io').catch((x: unknown) => x);
    expect((e as Error).message).to.equal('credential helper docker-credential-ferrytest failed (erase for reg.io): exit status 3');
  });

  it('logout --all erases every credHelpers registry and everything credsStore lists', async () => {
    const file = await write('auth.json', {
      auths: { 'a.io': { auth: b64('a:a') } }, credHelpers: { 'reg.io': 'ferrytest', 'gone.io': 'ferrytest' }, credsStore: 'ferryother', other: 1,
    });
    await helper.put('reg.io', 'u', 'p');
    await other.put('s1.io', 'u', 'p');
    await other.put('s2.io', 'u', 'p');
    await removeAllCredentials(file);
    expect(await helper.entry('reg.io')).to.equal(undefined);
    expect(await other.entry('s1.io')).to.equal(undefined);
    expect(await other.entry('s2.io')).to.equal(undefined);
    expect(JSON.parse(await readFile(file, 'utf8'))).to.deep.equal({ credsStore: 'ferryother', other: 1, auths: {} });
  });
});
