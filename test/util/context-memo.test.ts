import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tlsSettingsOnce } from '../../src/registry/certs.js';
import { memoizedPerContext, shareMemoized } from '../../src/util/context-memo.js';
import { registriesConfFor } from '../../src/config/registries-conf.js';
import type { SystemContext } from '../../src/types/context.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

describe('util/context-memo', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('ferry-ctx-memo-');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('loads once per context and key; another context or key loads again; a failure is not kept', async () => {
    const a: SystemContext = {};
    const b: SystemContext = {};
    let calls = 0;
    const load = async () => ++calls;
    expect(await memoizedPerContext(a, 'k', load)).to.equal(1);
    expect(await memoizedPerContext(a, 'k', load)).to.equal(1);
    expect(await memoizedPerContext(a, 'other', load)).to.equal(2);
    expect(await memoizedPerContext(b, 'k', load)).to.equal(3);
    const failing = memoizedPerContext(a, 'bad', async () => {
      throw new Error('boom');
    });
    await failing.then(() => expect.fail('should reject'), (e: Error) => expect(e.message).to.equal('boom'));
    expect(await memoizedPerContext(a, 'bad', load)).to.equal(4);
  });

  it('registries.conf is read once per command context (a new context sees file changes)', async () => {
    const f = join(dir, 'r.conf');
    await writeFile(f, 'unqualified-search-registries = ["one.io"]\n');
    const ctx: SystemContext = { registriesConf: f, homeDir: dir };
    const first = await registriesConfFor(ctx);
    expect(first.unqualifiedSearchRegistries).to.deep.equal(['one.io']);
    await writeFile(f, 'unqualified-search-registries = ["two.io"]\n');
    expect(await registriesConfFor(ctx)).to.equal(first);
    expect((await registriesConfFor({ ...ctx })).unqualifiedSearchRegistries).to.deep.equal(['two.io']);
    // A different file named by the same context object is a different key.
    const g = join(dir, 'g.conf');
    await writeFile(g, 'unqualified-search-registries = ["three.io"]\n');
    ctx.registriesConf = g;
    expect((await registriesConfFor(ctx)).unqualifiedSearchRegistries).to.deep.equal(['three.io']);
  });

  it('certs.d is looked up once per context and host; hosts and TLS flags are kept apart', async () => {
    const ctx: SystemContext = { homeDir: dir };
    const base = join(dir, '.config/containers/certs.d');
    await mkdir(join(base, 'reg.local'), { recursive: true });
    await writeFile(join(base, 'reg.local/ca.crt'), 'CA1');
    const t = await tlsSettingsOnce('reg.local:5000', ctx, false);
    expect(t.extraCAs).to.deep.equal(['CA1']);
    await writeFile(join(base, 'reg.local/ca.crt'), 'CA2');
    expect(await tlsSettingsOnce('reg.local:5000', ctx, false)).to.equal(t);
    expect((await tlsSettingsOnce('reg.local:5000', { ...ctx }, false)).extraCAs).to.deep.equal(['CA2']);
    expect((await tlsSettingsOnce('reg.local:5000', ctx, true)).verify).to.equal(false);
    expect((await tlsSettingsOnce('other.local', ctx, false)).extraCAs).to.deep.equal([]);
  });

  it('contexts sharing their memo (a copy\'s two sides) read registries.conf once; settings that differ stay apart', async () => {
    const f = join(dir, 'r.conf');
    await writeFile(f, 'unqualified-search-registries = ["one.io"]\n');
    const src: SystemContext = { registriesConf: f, homeDir: dir, tlsVerify: false };
    const dest: SystemContext = { registriesConf: f, homeDir: dir };
    shareMemoized(src, dest);
    const first = await registriesConfFor(src);
    await writeFile(f, 'unqualified-search-registries = ["two.io"]\n');
    expect(await registriesConfFor(dest)).to.equal(first);
    // another file named by one side is its own
    const g = join(dir, 'g.conf');
    await writeFile(g, 'unqualified-search-registries = ["three.io"]\n');
    expect((await registriesConfFor({ ...dest, registriesConf: g })).unqualifiedSearchRegistries).to.deep.equal(['three.io']);
    dest.registriesConf = g;
    expect((await registriesConfFor(dest)).unqualifiedSearchRegistries).to.deep.equal(['three.io']);
    // what a side memoized before sharing is kept, and seen by the other
    const late: SystemContext = { homeDir: dir };
    let calls = 0;
    await memoizedPerContext(late, 'k', async () => ++calls);
    shareMemoized(src, late);
    expect(await memoizedPerContext(src, 'k', async () => ++calls)).to.equal(1);
    expect(calls).to.equal(1);
  });
});
