/** policy.json parsing: what containers/image accepts, and every malformed file rejected with the JSON path of its problem. */
import { expect } from 'chai';
import { join } from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import { loadPolicy, parsePolicy, type PolicyParseOptions } from '../../src/config/policy.js';
import { FerryError } from '../../src/errors.js';
import { getTransport } from '../../src/transports/registry.js';
import { parseNormalizedName, repositoryString } from '../../src/reference/name.js';
import { useCleanup } from '../harness/tmp.js';

const opts: PolicyParseOptions = {
  scopeValidator: (name) => {
    const t = getTransport(name);
    return t ? (s) => t.validatePolicyScope(s) : undefined;
  },
  parseDockerReference: (s) => {
    const n = parseNormalizedName(s);
    return { name: repositoryString(n), ...(n.tag !== undefined ? { tag: n.tag } : {}), ...(n.digest !== undefined ? { digest: n.digest } : {}) };
  },
};

const parse = (doc: unknown) => parsePolicy(typeof doc === 'string' ? doc : JSON.stringify(doc), '/etc/p.json', opts);
const accept = [{ type: 'insecureAcceptAnything' }];
const signedBy = { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/k.gpg' };

describe('config/policy: reading policy.json', () => {
  const cleanup = useCleanup('after');

  it('reads what containers/image reads (Debian containers-common, every requirement and identity type)', () => {
    const p = parse({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'registry.example.com/team': [{ ...signedBy, signedIdentity: { type: 'matchRepository' } }],
          'registry.example.com': [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: ['/a', '/b'], signedIdentity: { type: 'remapIdentity', prefix: 'registry.example.com', signedPrefix: 'quay.io/team' } }],
          '*.example.com': [{ type: 'sigstoreSigned', keyData: Buffer.from('pem').toString('base64'), signedIdentity: { type: 'exactRepository', dockerRepository: 'busybox' } }],
          'docker.io/library/busybox:1': [{ type: 'sigstoreSigned', keyDatas: ['cGVt'], signedIdentity: { type: 'exactReference', dockerReference: 'busybox:1' } }],
          'quay.io': [{ type: 'sigstoreSigned', fulcio: { caPath: '/ca', oidcIssuer: 'https://o', subjectEmail: 'a@b' }, rekorPublicKeyPath: '/r' }],
          'quay.io/x': [{ type: 'sigstoreSigned', pki: { caRootsPath: '/ca', subjectHostname: 'h' } }],
          '': accept,
        },
        'docker-daemon': { '': accept },
        atomic: { whatever: accept },
        dir: { '/srv/images': [{ type: 'signedBy', keyType: 'GPGKeys', keyData: 'a2V5', signedIdentity: { type: 'matchExact' } }] },
        oci: { '/srv/layouts/app': [{ type: 'signedBaseLayer', baseLayerIdentity: { type: 'matchRepoDigestOrExact' } }] },
        'containers-storage': { '[overlay@/var/lib/containers/storage]docker.io/library/busybox': accept, '[/var/lib/containers/storage]': accept },
        'docker-archive': { '': accept },
      },
    });
    expect(p.default).to.deep.equal([{ type: 'reject' }]);
    const docker = p.transports.get('docker')!;
    expect(docker.get('registry.example.com/team')![0]).to.deep.equal({ type: 'signedBy', keyType: 'GPGKeys', keys: { path: '/k.gpg' }, signedIdentity: { type: 'matchRepository' } });
    expect(docker.get('*.example.com')![0]).to.deep.include({ keys: { data: Buffer.from('pem') } });
    expect(p.transports.get('dir')!.get('/srv/images')![0]).to.deep.include({ keys: { data: Buffer.from('key') } });
    expect(docker.get('quay.io')![0]).to.deep.include({ roots: { fulcio: { ca: { path: '/ca' }, oidcIssuer: 'https://o', subjectEmail: 'a@b' }, rekor: { path: '/r' } } });
    expect(docker.get('quay.io/x')![0]).to.deep.include({ roots: { pki: { caRoots: { path: '/ca' }, subjectHostname: 'h' } } });
    const pki = parse({ default: [{ type: 'sigstoreSigned', pki: { caRootsData: 'cm9vdA==', caIntermediatesData: 'aW50', subjectEmail: 'e' } }] }).default[0];
    expect(pki).to.deep.include({ roots: { pki: { caRoots: { data: Buffer.from('root') }, caIntermediates: { data: Buffer.from('int') }, subjectEmail: 'e' } } });
    // signedIdentity defaults to matchRepoDigestOrExact
    expect(parse({ default: [signedBy] }).default[0]).to.deep.include({ signedIdentity: { type: 'matchRepoDigestOrExact' } });
  });

  const malformed: [string, unknown, string][] = [
    ['not JSON', '{"default": [', '$: not valid JSON'],
    ['not an object', '[]', '$: expected a JSON object'],
    ['no default', { transports: {} }, '$: missing field "default"'],
    ['unknown top-level field', { default: accept, defaults: accept }, '$.defaults: unknown field "defaults"'],
    ['duplicate top-level field', '{"default":[{"type":"reject"}],"default":[{"type":"insecureAcceptAnything"}]}', '$: duplicate key "default"'],
    ['empty default', { default: [] }, '$.default: the list of policy requirements must not be empty'],
    ['default not a list', { default: { type: 'reject' } }, '$.default: expected an array of policy requirements'],
    ['requirement not an object', { default: ['reject'] }, '$.default[0]: expected a JSON object'],
    ['requirement without type', { default: [{}] }, '$.default[0].type: expected a string'],
    ['unknown requirement type', { default: [{ type: 'acceptAnything' }] }, '$.default[0].type: unknown policy requirement type "acceptAnything"'],
    ['extra field in reject', { default: [{ type: 'reject', keyPath: '/k' }] }, '$.default[0].keyPath: unknown field "keyPath"'],
    ['transports not an object', { default: accept, transports: [] }, '$.transports: expected a JSON object'],
    ['scopes not an object', { default: accept, transports: { docker: [] } }, '$.transports.docker: expected a JSON object'],
    ['empty requirement list in a scope', { default: accept, transports: { docker: { 'example.com': [] } } }, '$.transports.docker["example.com"]: the list of policy requirements must not be empty'],
    ['duplicate scope', '{"default":[{"type":"reject"}],"transports":{"docker":{"a.io":[{"type":"reject"}],"a.io":[{"type":"reject"}]}}}', '$.transports.docker: duplicate key "a.io"'],
    ['duplicate field deep inside', '{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","keyPath":"/b"}]}', '$.default[0]: duplicate key "keyPath"'],
    ['signedBy without keyType', { default: [{ type: 'signedBy', keyPath: '/k' }] }, '$.default[0]: missing field "keyType"'],
    ['signedBy with an unknown keyType', { default: [{ ...signedBy, keyType: 'GPG' }] }, '$.default[0].keyType: unknown keyType "GPG"'],
    ['signedBy with no key', { default: [{ type: 'signedBy', keyType: 'GPGKeys' }] }, '$.default[0]: exactly one of keyPath, keyPaths and keyData must be given, none is'],
    ['signedBy with two keys', { default: [{ ...signedBy, keyData: 'a2V5' }] }, '$.default[0]: only one of keyPath, keyPaths, keyData may be given, found keyPath and keyData'],
    ['signedBy keyPath not a string', { default: [{ ...signedBy, keyPath: 7 }] }, '$.default[0].keyPath: expected a string'],
    ['signedBy empty keyPath', { default: [{ ...signedBy, keyPath: '' }] }, '$.default[0].keyPath: must not be empty'],
    ['signedBy keyPaths empty', { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: [] }] }, '$.default[0].keyPaths: must not be empty'],
    ['signedBy keyPaths with a number', { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: ['/a', 1] }] }, '$.default[0].keyPaths[1]: expected a non-empty string'],
    ['signedBy keyData not base64', { default: [{ type: 'signedBy', keyType: 'GPGKeys', keyData: 'not base64!' }] }, '$.default[0].keyData: not valid base64'],
    ['signedBy unknown field', { default: [{ ...signedBy, keyFile: '/k' }] }, '$.default[0].keyFile: unknown field "keyFile"'],
    ['signedIdentity unknown type', { default: [{ ...signedBy, signedIdentity: { type: 'matchAll' } }] }, '$.default[0].signedIdentity.type: unknown signedIdentity type "matchAll"'],
    ['signedIdentity extra field', { default: [{ ...signedBy, signedIdentity: { type: 'matchExact', x: 1 } }] }, '$.default[0].signedIdentity.x: unknown field "x"'],
    ['exactReference without reference', { default: [{ ...signedBy, signedIdentity: { type: 'exactReference' } }] }, '$.default[0].signedIdentity: missing field "dockerReference"'],
    ['exactReference name only', { default: [{ ...signedBy, signedIdentity: { type: 'exactReference', dockerReference: 'busybox' } }] }, '$.default[0].signedIdentity.dockerReference: "busybox" has neither a tag nor a digest'],
    ['exactReference invalid', { default: [{ ...signedBy, signedIdentity: { type: 'exactReference', dockerReference: 'UPPER/x:1' } }] }, '$.default[0].signedIdentity.dockerReference: invalid dockerReference "UPPER/x:1"'],
    ['exactRepository invalid', { default: [{ ...signedBy, signedIdentity: { type: 'exactRepository', dockerRepository: 'a b' } }] }, '$.default[0].signedIdentity.dockerRepository: invalid dockerRepository "a b"'],
    ['remapIdentity bad prefix', { default: [{ ...signedBy, signedIdentity: { type: 'remapIdentity', prefix: 'example.com/', signedPrefix: 'quay.io' } }] }, '$.default[0].signedIdentity.prefix: prefix "example.com/" is not a host'],
    ['sigstoreSigned with nothing to verify with', { default: [{ type: 'sigstoreSigned' }] }, '$.default[0]: exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be given, none is'],
    ['sigstoreSigned with key and fulcio', { default: [{ type: 'sigstoreSigned', keyPath: '/k', fulcio: { caPath: '/c', oidcIssuer: 'i', subjectEmail: 'e' }, rekorPublicKeyPath: '/r' }] }, '$.default[0]: exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be given, found keyPath and fulcio'],
    ['sigstoreSigned keyDatas not a list', { default: [{ type: 'sigstoreSigned', keyDatas: 'cGVt' }] }, '$.default[0].keyDatas: expected an array of base64 strings'],
    ['sigstoreSigned fulcio without rekor', { default: [{ type: 'sigstoreSigned', fulcio: { caPath: '/c', oidcIssuer: 'i', subjectEmail: 'e' } }] }, '$.default[0]: fulcio needs one of rekorPublicKeyPath'],
    ['sigstoreSigned fulcio missing issuer', { default: [{ type: 'sigstoreSigned', fulcio: { caPath: '/c', subjectEmail: 'e' }, rekorPublicKeyPath: '/r' }] }, '$.default[0].fulcio: missing field "oidcIssuer"'],
    ['sigstoreSigned pki with rekor', { default: [{ type: 'sigstoreSigned', pki: { caRootsPath: '/c', subjectEmail: 'e' }, rekorPublicKeyPath: '/r' }] }, '$.default[0]: rekorPublicKey* cannot be used with pki'],
    ['sigstoreSigned two rekor keys', { default: [{ type: 'sigstoreSigned', keyPath: '/k', rekorPublicKeyPath: '/r', rekorPublicKeyData: 'cGVt' }] }, '$.default[0]: only one of rekorPublicKeyPath'],
    ['signedBaseLayer without identity', { default: [{ type: 'signedBaseLayer' }] }, '$.default[0]: missing field "baseLayerIdentity"'],
    ['dir scope not absolute', { default: accept, transports: { dir: { 'srv/images': accept } } }, '$.transports.dir["srv/images"]: invalid dir scope "srv/images": must be an absolute path'],
    ['dir scope /', { default: accept, transports: { dir: { '/': accept } } }, '$.transports.dir["/"]: invalid dir scope "/": use the default scope "" instead'],
    ['oci scope not clean', { default: accept, transports: { oci: { '/srv/../srv/x/': accept } } }, '$.transports.oci["/srv/../srv/x/"]: invalid oci scope "/srv/../srv/x/": not in canonical form, perhaps "/srv/x"'],
    ['oci-archive scope relative', { default: accept, transports: { 'oci-archive': { 'a.tar': accept } } }, '$.transports.oci-archive["a.tar"]: invalid oci-archive scope "a.tar": must be an absolute path'],
    ['docker-archive scope', { default: accept, transports: { 'docker-archive': { '/a.tar': accept } } }, '$.transports.docker-archive["/a.tar"]: invalid docker-archive scope "/a.tar": docker-archive supports no scopes'],
    ['containers-storage scope without store', { default: accept, transports: { 'containers-storage': { 'busybox': accept } } }, '$.transports.containers-storage.busybox: invalid containers-storage scope "busybox": must start with'],
    ['containers-storage relative graph root', { default: accept, transports: { 'containers-storage': { '[overlay@var/lib]': accept } } }, '$.transports.containers-storage["[overlay@var/lib]"]: invalid containers-storage scope "[overlay@var/lib]": the graph root "var/lib" is not an absolute path'],
    ['containers-storage bad ID', { default: accept, transports: { 'containers-storage': { '[/s]busybox@xyz': accept } } }, 'invalid containers-storage scope "[/s]busybox@xyz": "xyz" is neither a digest nor an image ID'],
  ];
  for (const [what, doc, expected] of malformed) {
    it(`rejects ${what}, naming where`, () => {
      let err: unknown;
      try {
        parse(doc);
      } catch (e) {
        err = e;
      }
      expect(err, what).to.be.instanceOf(FerryError);
      expect((err as FerryError).code).to.equal('E_CONFIG');
      expect((err as FerryError).message).to.contain('invalid policy in "/etc/p.json": ').and.contain(expected);
    });
  }

  it('reads --policy, else ~/.config/containers/policy.json; says where it looked when there is none', async () => {
    const home = await cleanup.tempDir('policy-home');
    const explicit = join(home, 'explicit.json');
    await writeFile(explicit, JSON.stringify({ default: [{ type: 'reject' }] }));
    expect((await loadPolicy({ ...opts, path: explicit, homeDir: home })).path).to.equal(explicit);
    await mkdir(join(home, '.config/containers'), { recursive: true });
    await writeFile(join(home, '.config/containers/policy.json'), JSON.stringify({ default: accept }));
    const user = await loadPolicy({ ...opts, homeDir: home });
    expect(user.path).to.equal(join(home, '.config/containers/policy.json'));
    expect(user.policy.default).to.deep.equal(accept);
    const none = await loadPolicy({ ...opts, homeDir: join(home, 'nohome'), systemPath: join(home, 'no-etc.json') }).then(() => undefined, (x: unknown) => x);
    expect((none as FerryError).code).to.equal('E_CONFIG');
    expect((none as Error).message).to.equal(
      `no policy.json file found at any of the following: "${join(home, 'nohome/.config/containers/policy.json')}", "${join(home, 'no-etc.json')}" (give one with --policy, or accept any image with --insecure-policy)`,
    );
    const big = join(home, 'big.json');
    await writeFile(big, `{"default":[{"type":"reject"}]}${' '.repeat(4 * 1024 * 1024)}`);
    const e = await loadPolicy({ ...opts, path: big }).then(() => undefined, (x: unknown) => x);
    expect((e as Error).message).to.equal(`policy file ${big} is larger than 4 MiB: refusing to read it`);
    const zero = await loadPolicy({ ...opts, path: '/dev/zero' }).then(() => undefined, (x: unknown) => x);
    expect((zero as Error).message).to.equal('policy file /dev/zero is a character device, not a regular file');
  });
});
