import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_SYNC_FILE_SIZE, parseSyncConfig, readSyncConfig } from '../../src/sync/config.js';
import { parseSemver } from '../../src/sync/semver.js';
import { ErrorCode } from '../../src/errors.js';
import { errorOf, rejection } from '../harness/expect.js';
import { useCleanup } from '../harness/tmp.js';

describe('sync/config: skopeo sync YAML files', () => {
  const cleanup = useCleanup();

  it('warns of keys it ignores (naming the one a typo was meant to be) and of registries without images', () => {
    const warnings: string[] = [];
    const cfg = parseSyncConfig(
      ['r.io:', '  tls-verify: false', '  imagess:', '    app: []', 'q.io:', '  images:', '    b: []', '  cert_dir: /certs', '  color: red', 'e.io:'].join('\n'),
      's.yaml',
      { onWarning: (m) => warnings.push(m) },
    );
    // still read as skopeo reads it: unknown keys ignored
    expect(cfg.map((c) => [c.registry, c.images.length])).to.deep.equal([['r.io', 0], ['q.io', 1], ['e.io', 0]]);
    expect(warnings).to.deep.equal([
      's.yaml:3: unknown key "imagess" in registry "r.io" (did you mean "images"?), ignored',
      's.yaml:1: no images specified for registry "r.io"',
      's.yaml:8: unknown key "cert_dir" in registry "q.io" (did you mean "cert-dir"?), ignored',
      's.yaml:9: unknown key "color" in registry "q.io", ignored',
      's.yaml:10: no images specified for registry "e.io"',
    ]);
  });

  it('reads every key of skopeo’s format, registries in file order', () => {
    const cfg = parseSyncConfig(
      [
        'registry.example.com:',
        '  images:',
        '    busybox: []',
        '    redis: ["1.0", sha256:0123456789abcdef0123456789abcdef]',
        '  images-by-tag-regex:',
        '    nginx: (?i)^V1\\.',
        '  images-by-semver:',
        '    alpine: ">= 3.12"',
        '  credentials:',
        '    username: john',
        '    password: "p: w#d"',
        '  tls-verify: no',
        '  cert-dir: /certs',
        'quay.io/team:',
        '  images:',
        '    etcd:',
      ].join('\n'),
      's.yaml',
    );
    expect(cfg.map((c) => c.registry)).to.deep.equal(['registry.example.com', 'quay.io/team']);
    const [a, b] = cfg;
    expect(a!.images).to.deep.equal([
      { repo: 'busybox', refs: [], line: 3 },
      { repo: 'redis', refs: ['1.0', 'sha256:0123456789abcdef0123456789abcdef'], line: 4 },
    ]);
    expect(a!.imagesByTagRegex[0]!.pattern.test('v1.2')).to.equal(true);
    expect(a!.imagesByTagRegex[0]!.pattern.test('x1.2')).to.equal(false);
    expect(a!.imagesBySemver[0]!.constraint(parseSemver('3.18.2')!)).to.equal(true);
    expect(a!.imagesBySemver[0]!.constraint(parseSemver('3.11')!)).to.equal(false);
    expect(a!.credentials).to.deep.equal({ username: 'john', password: 'p: w#d' });
    expect(a!.tlsVerify).to.equal(false);
    expect(a!.certDir).to.equal('/certs');
    expect(b!.images).to.deep.equal([{ repo: 'etcd', refs: [], line: 16 }]);
    expect(b!.tlsVerify).to.equal(undefined);
    expect(parseSyncConfig('', 'e.yaml')).to.deep.equal([]);
  });

  const bad: [string, string][] = [
    ['r:\n  images: [a, b]\n', 's.yaml:2: "images" must be a mapping of "key: value" lines'],
    ['r:\n  images:\n    a: v1\n', 's.yaml:3: images of "a" must be a list of tags or digests'],
    ['r:\n  images-by-tag-regex:\n    a: "(x"\n', 's.yaml:3: invalid tag regex "(x": '],
    ['r:\n  images-by-semver:\n    a: ">= x.y.1"\n', 's.yaml:3: invalid semver constraint for "a": '],
    ['r:\n  tls-verify: "false"\n', 's.yaml:2: tls-verify must be true or false'],
    ['r:\n  credentials:\n    username: u\n', 's.yaml:2: credentials need both username and password'],
    ['- a\n- b\n', 's.yaml:1: the file must be a mapping of "key: value" lines'],
    // (ferry only) filter patterns name the line and column of the pattern
    ['r:\n  images:\n    a: []\n  exclude:\n    - "*:v1"\n    - "a[b"\n', 's.yaml:6:7: exclude: invalid pattern "a[b": a glob may hold only'],
    ['r:\n  include: [ok, "regex:(x"]\n', 's.yaml:2:17: include: invalid pattern "regex:(x": '],
    ['r:\n  include: {a: b}\n', 's.yaml:2: each item of include must be a pattern'],
    // YAML errors name the line and column
    ['r:\n  images:\n    a: [v1\n', 's.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['r:\n  tls-verify: false\n  tls-verify: true\n', 's.yaml:3:3: Map keys must be unique'],
    ['r:\n  images:\n    a: *nope\n', 's.yaml:3: '],
    ['a: 1\n---\nb: 2\n', 's.yaml:2:1: only one YAML document is supported'],
    ['r:\n\t- b\n', 's.yaml:2:1: Tabs are not allowed as indentation'],
  ];
  for (const [text, msg] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const e = errorOf(() => parseSyncConfig(text, 's.yaml'));
      expect(e.code).to.equal(ErrorCode.Config);
      expect(e.message.startsWith(msg), e.message).to.equal(true);
    });
  }

  it('reads include: and exclude: patterns (ferry only) into the entry’s filter', () => {
    const [r, q] = parseSyncConfig('r.io:\n  images:\n    team/a: []\n  include: ["team/*"]\n  exclude:\n    - "**:*-rc*"\nq.io:\n  images:\n    b: []\n', 's.yaml');
    expect(r!.filter!.takes('team/a', 'v1')).to.equal(true);
    expect(r!.filter!.takes('team/a', 'v1-rc1')).to.equal(false);
    expect(r!.filter!.mayTakeRepository('other/c')).to.equal(false);
    expect(q!.filter).to.equal(undefined);
  });

  it('reads flow mappings, as skopeo does', () => {
    const [r] = parseSyncConfig('r:\n  credentials: {username: u, password: "p: w"}\n  images: {a: [v1, v2], b: []}\n  tls-verify: off\n', 's.yaml');
    expect(r!.credentials).to.deep.equal({ username: 'u', password: 'p: w' });
    expect(r!.images).to.deep.equal([
      { repo: 'a', refs: ['v1', 'v2'], line: 3 },
      { repo: 'b', refs: [], line: 3 },
    ]);
    expect(r!.tlsVerify).to.equal(false);
  });

  it('expands anchors, aliases and merge keys (explicit keys win over merged ones)', () => {
    const text = [
      'common: &common',
      '  tls-verify: false',
      '  cert-dir: /common',
      '  credentials: &creds {username: u, password: p}',
      'one.example.com:',
      '  <<: *common',
      '  cert-dir: /one',
      '  images:',
      '    app: &tags [v1, v2]',
      '    lib: *tags',
      'two.example.com:',
      '  credentials: *creds',
      '  images-by-tag-regex: {app: ^v}',
    ].join('\n');
    const cfg = parseSyncConfig(text, 's.yaml');
    expect(cfg.map((c) => c.registry)).to.deep.equal(['common', 'one.example.com', 'two.example.com']);
    const [common, one, two] = cfg;
    expect(common!.images).to.deep.equal([]);
    expect(one).to.deep.include({ tlsVerify: false, certDir: '/one', credentials: { username: 'u', password: 'p' } });
    expect(one!.images.map((i) => [i.repo, i.refs])).to.deep.equal([['app', ['v1', 'v2']], ['lib', ['v1', 'v2']]]);
    expect(two!.credentials).to.deep.equal({ username: 'u', password: 'p' });
    expect(two!.imagesByTagRegex[0]!.pattern.test('v9')).to.equal(true);
  });

  it('keeps every scalar the text it was written as: 1.10, yes, 010, null-looking tags', () => {
    const [r] = parseSyncConfig('r:\n  images:\n    a: [1.10, yes, 010, 1e3, "null", 0x1F]\n    b: ~\n    c:\n', 's.yaml');
    expect(r!.images).to.deep.equal([
      { repo: 'a', refs: ['1.10', 'yes', '010', '1e3', 'null', '0x1F'], line: 3 },
      { repo: 'b', refs: [], line: 4 },
      { repo: 'c', refs: [], line: 5 },
    ]);
  });

  it('ignores keys skopeo does not know, as skopeo does', () => {
    const [r] = parseSyncConfig('r:\n  image:\n    a: []\n  images:\n    b: [v1]\n  credentials: {username: u, password: p, email: e}\n', 's.yaml');
    expect(r!.images).to.deep.equal([{ repo: 'b', refs: ['v1'], line: 5 }]);
    expect(r!.credentials).to.deep.equal({ username: 'u', password: 'p' });
  });

  it('refuses aliases that expand without end', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 8; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`);
    const e = errorOf(() => parseSyncConfig(bomb.join('\n') + '\n', 's.yaml'));
    expect(e.code).to.equal(ErrorCode.Config);
    expect(e.message).to.match(/^s\.yaml:\d+: the file expands to more than 100000 values/);
  });

  it('reads a file of 20,000 aliases in one walk of the document (not one walk per alias: minutes)', function () {
    this.timeout(30_000);
    const text = `reg.example.com:\n  images:\n    app:\n      - &t v1\n${'      - *t\n'.repeat(20_000)}`;
    const [reg] = parseSyncConfig(text, 's.yaml');
    expect(reg!.images[0]!.refs).to.have.length(20_001);
    expect(new Set(reg!.images[0]!.refs)).to.deep.equal(new Set(['v1']));
  });

  it('never puts the password in an error message', () => {
    const e = errorOf(() => parseSyncConfig('r:\n  credentials:\n    username: u\n    password: [s3cret]\n', 's.yaml'));
    expect(e.message).to.equal('s.yaml:4: credentials password must be a single value');
  });

  it('readSyncConfig: a missing file is E_NOT_FOUND', async () => {
    const dir = await cleanup.tempDir('sync-config');
    expect((await rejection(readSyncConfig(join(dir, 'nope.yaml')))).code).to.equal(ErrorCode.NotFound);
    await writeFile(join(dir, 'ok.yaml'), 'r:\n  images:\n    a: [v1]\n');
    expect((await readSyncConfig(join(dir, 'ok.yaml')))[0]!.images[0]!.refs).to.deep.equal(['v1']);
  });

  it('readSyncConfig refuses a file larger than 4 MiB without reading it all', async () => {
    const dir = await cleanup.tempDir('sync-config-big');
    const big = join(dir, 'big.yaml');
    await writeFile(big, `r:\n  images:\n    a: [v1]\n# ${'x'.repeat(MAX_SYNC_FILE_SIZE)}\n`);
    const e = await rejection(readSyncConfig(big));
    expect(e.code).to.equal(ErrorCode.TooLarge);
    expect(e.message).to.equal(`sync source file ${big} is larger than 4 MiB: refusing to read it`);
  });
});
