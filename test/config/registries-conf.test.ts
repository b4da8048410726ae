import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/errors.js';
import {
  findRegistry, loadRegistriesConf, parseRegistriesConf, prefixMatchLength, primarySource, pullSources, type RegistriesConf,
} from '../../src/config/registries-conf.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

async function conf(text: string): Promise<RegistriesConf> {
  const p = await parseRegistriesConf(text, 'r.conf');
  return { unqualifiedSearchRegistries: p.unqualifiedSearchRegistries ?? [], registries: p.registries, aliases: p.aliases ?? {}, credentialHelpers: p.credentialHelpers ?? ['containers-auth.json'], files: ['r.conf'] };
}

describe('config/registries-conf', () => {
  it('matches prefixes only at component boundaries, wildcards on subdomains', () => {
    expect(prefixMatchLength('example.com/foo/bar', 'example.com/foo')).to.equal('example.com/foo'.length);
    expect(prefixMatchLength('example.com/foobar', 'example.com/foo')).to.equal(-1);
    expect(prefixMatchLength('example.com', 'example.com')).to.equal(11);
    expect(prefixMatchLength('a.b.example.com/x', '*.example.com')).to.equal('a.b.example.com'.length);
    expect(prefixMatchLength('example.com/x', '*.example.com')).to.equal(-1);
    expect(prefixMatchLength('notexample.com/x', '*.example.com')).to.equal(-1);
  });

  it('picks the longest matching prefix, preferring an exact prefix over a wildcard', async () => {
    const c = await conf(`
[[registry]]
prefix = "example.com"
location = "a.local"
[[registry]]
prefix = "example.com/team"
location = "b.local/t"
[[registry]]
prefix = "*.example.com"
insecure = true
[[registry]]
prefix = "x.example.com"
`);
    expect(findRegistry(c, 'example.com/team/app')?.registry.location).to.equal('b.local/t');
    expect(findRegistry(c, 'example.com/other')?.registry.location).to.equal('a.local');
    expect(findRegistry(c, 'y.example.com/app')?.registry.prefix).to.equal('*.example.com');
    expect(findRegistry(c, 'x.example.com/app')?.registry.prefix).to.equal('x.example.com');
    expect(findRegistry(c, 'quay.io/app')).to.equal(undefined);
  });

  it('rewrites locations and orders mirrors for pulls, honouring pull-from-mirror', async () => {
    const c = await conf(`
[[registry]]
prefix = "example.com/foo"
location = "internal.net/bar"
insecure = true
[[registry.mirror]]
location = "m1.local:5000/mirror"
insecure = true
[[registry.mirror]]
location = "m2.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "m3.local"
pull-from-mirror = "tag-only"
`);
    const byTag = pullSources(c, 'example.com', 'foo/app', false);
    expect(byTag).to.deep.equal([
      { host: 'm1.local:5000', repository: 'mirror/app', insecure: true, mirror: true },
      { host: 'm3.local', repository: 'app', insecure: false, mirror: true },
      { host: 'internal.net', repository: 'bar/app', insecure: true, mirror: false },
    ]);
    expect(pullSources(c, 'example.com', 'foo/app', true).map((s) => s.host)).to.deep.equal(['m1.local:5000', 'm2.local', 'internal.net']);
    expect(primarySource(c, 'example.com', 'foo/app', false)).to.deep.equal({ host: 'example.com', repository: 'foo/app', insecure: true, mirror: false });
    expect(pullSources(c, 'other.io', 'x', false)).to.deep.equal([{ host: 'other.io', repository: 'x', insecure: false, mirror: false }]);
  });

  it('mirror-by-digest-only applies to every mirror', async () => {
    const c = await conf('[[registry]]\nlocation = "docker.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.local"\n');
    expect(pullSources(c, 'docker.io', 'library/busybox', false).map((s) => s.host)).to.deep.equal(['docker.io']);
    expect(pullSources(c, 'docker.io', 'library/busybox', true).map((s) => s.host)).to.deep.equal(['m.local', 'docker.io']);
  });

  it('refuses blocked registries before any request', async () => {
    const c = await conf('[[registry]]\nprefix = "evil.io"\nblocked = true\n');
    for (const f of [() => pullSources(c, 'evil.io', 'x', false), () => primarySource(c, 'evil.io', 'x', false)]) {
      expect(f).to.throw(FerryError, /registry evil\.io is blocked/).with.property('code', 'E_DENIED');
    }
  });

  it('reads version 1 files', async () => {
    const c = await conf('[registries.search]\nregistries = ["a.io"]\n[registries.insecure]\nregistries = ["b.io:5000"]\n[registries.block]\nregistries = ["c.io"]\n');
    expect(c.unqualifiedSearchRegistries).to.deep.equal(['a.io']);
    expect(pullSources(c, 'b.io:5000', 'x', false)[0]!.insecure).to.equal(true);
    expect(() => pullSources(c, 'c.io', 'x', false)).to.throw(/blocked/);
  });

  it('gives clear E_CONFIG errors', async () => {
    const bad = async (t: string, re: RegExp) => {
      const e = await parseRegistriesConf(t, 'r.conf').then(() => undefined, (x: unknown) => x);
      expect(e).to.be.instanceOf(FerryError).with.property('code', 'E_CONFIG');
      expect((e as Error).message).to.match(re);
    };
    await bad('[[registry]]\ninsecure = "yes"\nlocation = "a"\n', /insecure must be true or false/);
    await bad('[[registry]]\nprefix = "*.a.com/foo"\n', /wildcard/);
    await bad('[[registry]]\nprefix = "a"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"\n', /pull-from-mirror/);
    await bad('[[registry]]\nlocation = "https://a.io"\n', /URI scheme/);
    await bad('unqualified-search-registries = "a"\n', /array of strings/);
    await bad('[[registry]]\nprefix = "a"\nlocation = "b"\n\nbroken\n', /^r\.conf:5: /);
  });

  describe('loading', () => {
    let dir: string;
    const saved = process.env['CONTAINERS_REGISTRIES_CONF'];
    beforeEach(async () => {
      dir = await makeTempDir('regconf');
      delete process.env['CONTAINERS_REGISTRIES_CONF'];
    });
    afterEach(async () => {
      if (saved === undefined) delete process.env['CONTAINERS_REGISTRIES_CONF'];
      else process.env['CONTAINERS_REGISTRIES_CONF'] = saved;
      await removeDir(dir);
    });

    it('uses ctx.registriesConf alone, and skips a missing file silently', async () => {
      const f = join(dir, 'r.conf');
      await writeFile(f, 'unqualified-search-registries = ["only.io"]\n');
      const c = await loadRegistriesConf({ registriesConf: f, homeDir: dir });
      expect(c.unqualifiedSearchRegistries).to.deep.equal(['only.io']);
      expect(c.files).to.deep.equal([f]);
      const missing = await loadRegistriesConf({ registriesConf: join(dir, 'nope.conf'), homeDir: dir });
      expect(missing.registries).to.deep.equal([]);
    });

    it('uses $CONTAINERS_REGISTRIES_CONF when no ctx path is given', async () => {
      const f = join(dir, 'env.conf');
      await writeFile(f, '[[registry]]\nlocation = "env.io"\ninsecure = true\n');
      process.env['CONTAINERS_REGISTRIES_CONF'] = f;
      const c = await loadRegistriesConf({ homeDir: dir });
      expect(c.files).to.deep.equal([f]);
      expect(c.registries[0]!.prefix).to.equal('env.io');
    });

    it('reads the user file then its drop-ins in lexical order, later ones overriding', async () => {
      const base = join(dir, '.config/containers');
      await mkdir(join(base, 'registries.conf.d'), { recursive: true });
      await writeFile(join(base, 'registries.conf'), 'unqualified-search-registries = ["a.io"]\n[[registry]]\nlocation = "x.io"\n[aliases]\n"k" = "x.io/k"\n');
      await writeFile(join(base, 'registries.conf.d/20-b.conf'), '[[registry]]\nlocation = "x.io"\nblocked = true\n');
      await writeFile(join(base, 'registries.conf.d/10-a.conf'), 'unqualified-search-registries = ["b.io"]\n[aliases]\n"k" = ""\n');
      await writeFile(join(base, 'registries.conf.d/ignored.txt'), 'not toml [');
      const c = await loadRegistriesConf({ homeDir: dir });
      expect(c.files.map((f) => f.slice(base.length + 1))).to.deep.equal(['registries.conf', 'registries.conf.d/10-a.conf', 'registries.conf.d/20-b.conf']);
      expect(c.unqualifiedSearchRegistries).to.deep.equal(['b.io']);
      expect(c.aliases).to.deep.equal({});
      expect(c.registries).to.have.length(1);
      expect(c.registries[0]!.blocked).to.equal(true);
    });
  });
});
