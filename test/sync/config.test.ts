import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSyncConfig, readSyncConfig } from '../../src/sync/config.js';
import { parseSemver } from '../../src/sync/semver.js';
import { ErrorCode } from '../../src/errors.js';
import { errorOf, rejection } from '../harness/expect.js';
import { useCleanup } from '../harness/tmp.js';

describe('sync/config: skopeo sync YAML files', () => {
  const cleanup = useCleanup();

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
    ['r:\n  image:\n    a: []\n', 's.yaml:2: unknown key "image" for registry "r"'],
    ['r:\n  images: [a, b]\n', 's.yaml:2: "images" must be a mapping of "key: value" lines'],
    ['r:\n  images:\n    a: v1\n', 's.yaml:3: images of "a" must be a list of tags or digests'],
    ['r:\n  images-by-tag-regex:\n    a: "(x"\n', 's.yaml:3: invalid tag regex "(x": '],
    ['r:\n  images-by-semver:\n    a: ">= x.y.1"\n', 's.yaml:3: invalid semver constraint for "a": '],
    ['r:\n  tls-verify: "false"\n', 's.yaml:2: tls-verify must be true or false'],
    ['r:\n  credentials:\n    username: u\n', 's.yaml:2: credentials need both username and password'],
    ['- a\n- b\n', 's.yaml:1: the file must be a mapping of "key: value" lines'],
  ];
  for (const [text, msg] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const e = errorOf(() => parseSyncConfig(text, 's.yaml'));
      expect(e.code).to.equal(ErrorCode.Config);
      expect(e.message.startsWith(msg), e.message).to.equal(true);
    });
  }

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
});
