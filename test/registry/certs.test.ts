import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext, rootCertificates } from 'node:tls';
import { connectOptions, readCertDir, secureContextOptions, tlsSettingsFor } from '../../src/registry/certs.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

describe('registry/certs', () => {
  let home: string;
  beforeEach(async () => {
    home = await makeTempDir('certs');
  });
  afterEach(() => removeDir(home));

  it('reads CAs and client pairs; a .cert without its .key (or the reverse) is an error', async () => {
    const d = join(home, 'd');
    await mkdir(d);
    await writeFile(join(d, 'ca.crt'), 'CA1');
    await writeFile(join(d, 'other.crt'), 'CA2');
    await writeFile(join(d, 'client.cert'), 'CERT');
    await writeFile(join(d, 'client.key'), 'KEY');
    expect(await readCertDir(d)).to.deep.equal({ extraCAs: ['CA1', 'CA2'], cert: 'CERT', key: 'KEY' });
    await writeFile(join(d, 'lonely.cert'), 'X');
    await readCertDir(d).then(() => expect.fail('should throw'), (e: Error) => expect(e.message).to.match(/missing key lonely\.key/));
  });

  it('looks up certs.d by host:port, then host; ctx.certDir replaces the lookup; CAs are added to the roots', async () => {
    const ctx = { homeDir: home };
    const base = join(home, '.config/containers/certs.d');
    await mkdir(join(base, 'reg.local'), { recursive: true });
    await writeFile(join(base, 'reg.local/ca.crt'), 'HOSTCA');
    const t = await tlsSettingsFor('reg.local:5000', ctx, false);
    expect(t.extraCAs).to.deep.equal(['HOSTCA']);
    expect(t.verify).to.equal(true);
    await mkdir(join(base, 'reg.local:5000'));
    await writeFile(join(base, 'reg.local:5000/ca.crt'), 'PORTCA');
    expect((await tlsSettingsFor('reg.local:5000', ctx, false)).extraCAs).to.deep.equal(['PORTCA']);
    const explicit = join(home, 'explicit');
    await mkdir(explicit);
    expect((await tlsSettingsFor('reg.local:5000', { ...ctx, certDir: explicit }, false)).extraCAs).to.deep.equal([]);
    // NODE_EXTRA_CA_CERTS's CAs (of the test's environment) come along: this list replaces Node's default CAs
    expect(secureContextOptions(t).ca).to.deep.equal([...rootCertificates, ...t.environmentCAs, 'HOSTCA']);
    expect(connectOptions(t).rejectUnauthorized).to.equal(true);
    // Without verification no CA is loaded (an empty list: not even Node's bundled roots, which would only cost time).
    const noVerify = { ...t, verify: false, id: `${t.id}-noverify` };
    expect(secureContextOptions(noVerify).ca).to.deep.equal([]);
    expect(connectOptions(noVerify).rejectUnauthorized).to.equal(false);
  });

  it('gives a connection pool one secure context for all its connections, not the options to make one per connection', async () => {
    const d = join(home, 'ctx');
    await mkdir(d);
    await writeFile(join(d, 'ca.crt'), 'HOSTCA');
    const t = await tlsSettingsFor('reg.local:5000', { homeDir: home, certDir: d }, false);
    const opts = connectOptions(t);
    expect(opts.secureContext, 'a context, not the options Node would make a new context from').to.be.an.instanceOf(createSecureContext({}).constructor);
    expect(opts).to.not.have.any.keys('ca', 'cert', 'key');
    expect(opts.rejectUnauthorized).to.equal(true);
    // a client pair Node cannot load makes no context: each connection is given the options and fails on them
    const bad = connectOptions({ ...t, cert: 'CERT', key: 'KEY' });
    expect(bad.secureContext).to.equal(undefined);
    expect(bad).to.include({ cert: 'CERT', key: 'KEY', rejectUnauthorized: true });
  });

  it('skips verification for tlsVerify:false or an insecure registry (unless tlsVerify:true), and keys settings apart', async () => {
    const ctx = { homeDir: home };
    expect((await tlsSettingsFor('h', { ...ctx, tlsVerify: false }, false)).verify).to.equal(false);
    expect((await tlsSettingsFor('h', ctx, true)).verify).to.equal(false);
    expect((await tlsSettingsFor('h', { ...ctx, tlsVerify: true }, true)).verify).to.equal(true);
    const a = await tlsSettingsFor('h', ctx, false);
    const b = await tlsSettingsFor('h', ctx, true);
    expect(a.id).not.to.equal(b.id);
    expect(a.id).to.equal((await tlsSettingsFor('h', ctx, false)).id);
  });
});
