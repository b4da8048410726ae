import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from '../../src/errors.js';
import { MAX_REGISTRIES_D_FILE, builtinLookaside, loadRegistriesD, lookasideBase, usesSigstoreAttachments } from '../../src/config/registries-d.js';
import { rejection } from '../harness/expect.js';
import { dockerTransport } from '../../src/transports/docker/transport.js';
import { useCleanup } from '../harness/tmp.js';
import { modulesLoadedBy } from '../harness/modules.js';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The compiled src/ next to this compiled test (.build/src). */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** The scopes registries.d is consulted with for a docker image: the docker reference's policy scopes. */
const scopes = (identity: string) => {
  const ref = dockerTransport.parseReference(`//${identity}`);
  return [ref.policyIdentity(), ...ref.policyNamespaces()];
};

describe('config/registries-d', function () {
  const cleanup = useCleanup('after');

  async function dirWith(files: Record<string, string>): Promise<string> {
    const dir = await cleanup.tempDir('regd');
    for (const [n, text] of Object.entries(files)) await writeFile(path.join(dir, n), text);
    return dir;
  }

  it('loads the YAML parser only when there is a file to parse (none in a missing or empty directory)', async function () {
    this.timeout(60_000);
    const mod = pathToFileURL(path.join(SRC, 'config/registries-d.js')).href;
    const loadedFor = (dir: string) =>
      modulesLoadedBy(
        `const { loadRegistriesD } = await import(${JSON.stringify(mod)});
         const c = await loadRegistriesD({ registriesDirPath: ${JSON.stringify(dir)} });
         process.stdout.write(JSON.stringify(c.defaultDocker ?? null));`,
        SRC,
      );
    const yamlOf = (loaded: string[]) => loaded.filter((p) => /[\\/]node_modules[\\/]yaml[\\/]/.test(p));
    const empty = await dirWith({ 'notes.txt': 'not yaml' });
    expect(yamlOf(await loadedFor(empty))).to.deep.equal([]);
    expect(yamlOf(await loadedFor(path.join(empty, 'missing')))).to.deep.equal([]);
    // the hook sees the parser when a file needs it
    const withFile = await dirWith({ 'a.yaml': 'default-docker:\n  lookaside: file:///sigs\n' });
    expect(yamlOf(await loadedFor(withFile))).not.to.deep.equal([]);
  });

  it('scopes go from the full name to the host, then wildcard domains', () => {
    expect(scopes('reg.example.com:5000/a/b/c:t')).to.deep.equal([
      'reg.example.com:5000/a/b/c:t',
      'reg.example.com:5000/a/b/c',
      'reg.example.com:5000/a/b',
      'reg.example.com:5000/a',
      'reg.example.com:5000',
      '*.example.com',
      '*.com',
    ]);
    // as containers/image: IPv4 hosts get wildcards too; IPv6 none
    expect(scopes('10.1.2.3:5000/a:t')).to.deep.equal(['10.1.2.3:5000/a:t', '10.1.2.3:5000/a', '10.1.2.3:5000', '*.1.2.3', '*.2.3', '*.3']);
    expect(scopes('[::1]:5000/a:t')).to.deep.equal(['[::1]:5000/a:t', '[::1]:5000/a', '[::1]:5000']);
  });

  it('most specific scope wins, falling through scopes without a lookaside; staging for writes; old key names; only *.yaml', async () => {
    const dir = await dirWith({
      'a.yaml': 'default-docker:\n  lookaside: file:///default\n  use-sigstore-attachments: false\n',
      'b.yaml': [
        'docker:',
        '  reg.example.com:',
        '    sigstore: https://sigs.example.com',
        '    sigstore-staging: file:///staging',
        '  reg.example.com/team/app:',
        '    use-sigstore-attachments: true',
        '  "*.example.com":',
        '    lookaside: file:///wild',
        '  other.example.com/x/y:1:',
        '    lookaside: file:///tag',
      ].join('\n'),
      'ignored.yml': 'docker: [not, a, map]\n',
    });
    const c = await loadRegistriesD({ registriesDirPath: dir });
    const app = scopes('reg.example.com/team/app:1');
    expect(lookasideBase(c, app, false)).to.equal('https://sigs.example.com');
    expect(lookasideBase(c, app, true)).to.equal('file:///staging');
    expect(usesSigstoreAttachments(c, app)).to.equal(true);
    expect(usesSigstoreAttachments(c, scopes('reg.example.com/other:1'))).to.equal(false);
    expect(lookasideBase(c, scopes('other.example.com/x/y:1'), false)).to.equal('file:///tag');
    expect(lookasideBase(c, scopes('other.example.com/x/y:2'), false)).to.equal('file:///wild');
    expect(lookasideBase(c, scopes('docker.io/library/busybox:latest'), false)).to.equal('file:///default');
  });

  it('refuses a scope or default-docker defined twice, wrong types, and bad YAML, naming the file', async () => {
    const twice = await dirWith({ 'a.yaml': 'docker:\n  r.io:\n    lookaside: file:///a\n', 'b.yaml': 'docker:\n  r.io:\n    lookaside: file:///b\n' });
    expect((await rejection(loadRegistriesD({ registriesDirPath: twice }))).message).to.match(/"docker:r.io" is defined both in .*a\.yaml and .*b\.yaml/);
    const defaults = await dirWith({ 'a.yaml': 'default-docker:\n  lookaside: file:///a\n', 'b.yaml': 'default-docker:\n  lookaside: file:///b\n' });
    expect((await rejection(loadRegistriesD({ registriesDirPath: defaults }))).message).to.contain('"default-docker" is defined both');
    const types = await dirWith({ 'a.yaml': 'docker:\n  r.io:\n    use-sigstore-attachments: maybe\n' });
    expect((await rejection(loadRegistriesD({ registriesDirPath: types }))).message).to.match(/a\.yaml: docker\.r\.io\.use-sigstore-attachments: expected true or false/);
    const bad = await dirWith({ 'a.yaml': 'docker: {r.io: {lookaside: [}\n' });
    expect((await rejection(loadRegistriesD({ registriesDirPath: bad }))).message).to.match(/parsing .*a\.yaml/);
    const dup = await dirWith({ 'a.yaml': 'docker:\n  r.io:\n    lookaside: file:///a\n  r.io:\n    lookaside: file:///b\n' });
    expect((await rejection(loadRegistriesD({ registriesDirPath: dup }))).message).to.match(/parsing .*a\.yaml/);
  });

  it('skips a directory named *.yaml; a FIFO, a dangling link or an oversized file is a configuration error naming it', async () => {
    const dir = await dirWith({ 'b.yaml': 'default-docker:\n  lookaside: file:///b\n' });
    await mkdir(path.join(dir, 'a.yaml'));
    expect((await loadRegistriesD({ registriesDirPath: dir })).defaultDocker?.lookaside).to.equal('file:///b');
    const fifo = await dirWith({});
    execFileSync('mkfifo', [path.join(fifo, 'a.yaml')]);
    const f = await rejection(loadRegistriesD({ registriesDirPath: fifo }));
    expect([f.code, f.message]).to.deep.equal([ErrorCode.Config, `registries.d file ${path.join(fifo, 'a.yaml')} is a FIFO, not a regular file`]);
    const dangling = await dirWith({});
    await symlink(path.join(dangling, 'nowhere'), path.join(dangling, 'a.yaml'));
    const d = await rejection(loadRegistriesD({ registriesDirPath: dangling }));
    expect(d.code).to.equal(ErrorCode.Config);
    expect(d.message).to.match(new RegExp(`^reading ${path.join(dangling, 'a.yaml')}: ENOENT`));
    const big = await dirWith({ 'a.yaml': `# ${'x'.repeat(MAX_REGISTRIES_D_FILE)}\n` });
    const b = await rejection(loadRegistriesD({ registriesDirPath: big }));
    expect([b.code, b.message]).to.deep.equal([ErrorCode.Config, `registries.d file ${path.join(big, 'a.yaml')} is larger than 4 MiB: refusing to read it`]);
  });

  it('reads the user directory when it exists, else the system one; a missing --registries.d is an empty configuration', async () => {
    const home = await cleanup.tempDir('regd-home');
    const user = path.join(home, '.config', 'containers', 'registries.d');
    await mkdir(user, { recursive: true });
    await writeFile(path.join(user, 'u.yaml'), 'default-docker:\n  lookaside: file:///user\n');
    const c = await loadRegistriesD({ homeDir: home });
    expect(c.dir).to.equal(user);
    expect(c.defaultDocker?.lookaside).to.equal('file:///user');
    const none = await loadRegistriesD({ registriesDirPath: path.join(home, 'missing') });
    expect(none.docker.size).to.equal(0);
    expect(builtinLookaside('/home/u', 0)).to.equal('file:///var/lib/containers/sigstore');
    expect(builtinLookaside('/home/u', 1000)).to.equal('file:///home/u/.local/share/containers/sigstore');
  });
});
