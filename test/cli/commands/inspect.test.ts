import { expect } from 'chai';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { useRegistry, type TestRegistry, type RegistryMode } from '../../harness/registry.js';
import { buildImage, pushImage, type BuiltImage } from '../../harness/images.js';
import { startFaultProxy } from '../../harness/fault-proxy.js';
import { useCleanup } from '../../harness/tmp.js';
import { run } from '../../harness/procs.js';
import { ferry } from '../../harness/cli.js';
import { digestOf } from '../../../src/util/digest.js';

const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
];

/** Flags giving ferry and skopeo access to the registry (identical spelling for both tools). */
function accessFlags(reg: TestRegistry): string[] {
  const flags = reg.mode === 'http' ? ['--tls-verify=false'] : ['--cert-dir', reg.certDir!];
  if (reg.username) flags.push('--creds', `${reg.username}:${reg.password}`);
  return flags;
}

/**
 * ferry's inspect text with the keys skopeo 1.9.3 does not print taken out (LayersData is newer than 1.9.3;
 * InstanceDigest and Platforms are ferry's), leaving the rest byte for byte as ferry printed it.
 */
function asSkopeo193(text: string): string {
  const out: string[] = [];
  let skippingUntil: string | undefined;
  for (const line of text.split('\n')) {
    if (skippingUntil !== undefined) {
      if (line.startsWith(skippingUntil)) skippingUntil = undefined;
      continue;
    }
    if (line === '    "LayersData": [' || line === '    "Platforms": [') skippingUntil = '    ]';
    else if (!line.startsWith('    "InstanceDigest": ')) out.push(line);
  }
  const close = out.lastIndexOf('}');
  out[close - 1] = out[close - 1]!.replace(/,$/, '');
  return out.join('\n');
}

async function skopeo(args: string[]) {
  const r = await run('skopeo', args);
  expect(r.code, `skopeo ${args.join(' ')}: ${r.stderr}`).to.equal(0);
  return r;
}

describe('cli/commands/inspect (against a real registry, compared with skopeo)', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  let multi: BuiltImage;
  let dockerImg: BuiltImage;
  let dockerMulti: BuiltImage;

  before(async () => {
    const dir = await cleanup.tempDir('ferry-inspect-');
    multi = await buildImage(path.join(dir, 'multi'), {
      seed: 11, tag: '1.0', platforms: PLATFORMS, labels: { 'a.b': 'x<y>&z', team: 'ferry' }, env: ['PATH=/bin', 'K=v'],
    });
    dockerImg = await buildImage(path.join(dir, 'docker'), { seed: 12, tag: 'd', format: 'docker', layers: 3 });
    dockerMulti = await buildImage(path.join(dir, 'dmulti'), { seed: 14, tag: '1', format: 'docker', platforms: PLATFORMS });
  });

  for (const mode of ['http', 'tls', 'basic', 'token'] as RegistryMode[]) {
    describe(`${mode} registry`, () => {
      const reg = useRegistry(mode);
      before(async () => {
        await pushImage(multi, reg(), 'team/multi:1.0');
        await pushImage(multi, reg(), 'team/multi:latest');
        await pushImage(dockerImg, reg(), 'team/docker:d');
      });

      it('prints what skopeo prints for a multi-arch OCI index and a Docker schema2 image', async () => {
        for (const ref of [`docker://${reg().host}/team/multi:1.0`, `docker://${reg().host}/team/docker:d`]) {
          const f = await ferry(['inspect', ...accessFlags(reg()), ref]);
          expect(f.code, f.stderr).to.equal(0);
          const s = await skopeo(['inspect', ...accessFlags(reg()), ref]);
          expect(asSkopeo193(f.stdout)).to.equal(asSkopeo193(s.stdout));
          // skopeo 1.9.3's exact text, byte for byte, once ferry's additions are taken out of the same document
          expect(JSON.stringify(JSON.parse(f.stdout).Digest)).to.equal(JSON.stringify(JSON.parse(s.stdout).Digest));
        }
      });

      it('--raw and --config --raw are byte-identical to skopeo', async () => {
        const ref = `docker://${reg().host}/team/multi:1.0`;
        for (const flags of [['--raw'], ['--config', '--raw'], ['--config']]) {
          const f = await ferry(['inspect', ...flags, ...accessFlags(reg()), ref]);
          expect(f.code, f.stderr).to.equal(0);
          const s = await skopeo(['inspect', ...flags, ...accessFlags(reg()), ref]);
          expect(f.stdoutBytes.equals(s.stdoutBytes), `inspect ${flags.join(' ')}`).to.equal(true);
        }
        const raw = await ferry(['inspect', '--raw', ...accessFlags(reg()), ref]);
        expect(digestOf(raw.stdoutBytes)).to.equal(multi.digest);
      });
    });
  }

  describe('http registry: platforms, formats, errors', () => {
    const reg = useRegistry('http');
    before(async () => {
      await pushImage(multi, reg(), 'team/multi:1.0');
      await pushImage(multi, reg(), 'team/multi:2.0');
    });
    const ref = () => `docker://${reg().host}/team/multi:1.0`;

    it('sends the manifest requests over the connection the ping opened', async () => {
      const from = (await readFile(reg().logFile)).length;
      const f = await ferry(['inspect', '--tls-verify=false', ref()]);
      expect(f.code, f.stderr).to.equal(0);
      const log = (await readFile(reg().logFile)).subarray(from).toString('utf8');
      const requests = [...log.matchAll(/http\.request\.method=(\w+) http\.request\.remoteaddr="([^"]+)" http\.request\.uri="?([^" ]+)/g)].map((m) => ({
        request: `${m[1]} ${m[3]}`,
        connection: m[2],
      }));
      // one ping (the tag list shares the image's), index, instance manifest, config, tags
      expect(requests.map((r) => r.request)).to.deep.equal([
        'GET /v2/',
        'GET /v2/team/multi/manifests/1.0',
        `GET /v2/team/multi/manifests/${multi.manifests[0]!.digest}`,
        `GET /v2/team/multi/blobs/${multi.manifests[0]!.configDigest}`,
        'GET /v2/team/multi/tags/list',
      ]);
      // each manifest request follows the previous answer at once: it must not open a connection of its own
      expect(new Set(requests.slice(0, 3).map((r) => r.connection)).size, log).to.equal(1);
    });

    it('reports the index digest, the chosen instance and the platforms', async () => {
      const f = await ferry(['inspect', '--tls-verify=false', '--override-arch', 'amd64', ref()]);
      const o = JSON.parse(f.stdout);
      expect(o.Name).to.equal(`${reg().host}/team/multi`);
      expect(o.Digest).to.equal(multi.digest);
      expect(o.InstanceDigest).to.equal(multi.manifests[0]!.digest);
      expect([...o.RepoTags].sort()).to.deep.equal(['1.0', '2.0']);
      expect(o.Platforms.map((p: { Architecture: string; Digest: string }) => [p.Architecture, p.Digest])).to.deep.equal([
        ['amd64', multi.manifests[0]!.digest],
        ['arm64', multi.manifests[1]!.digest],
      ]);
      expect(o.LayersData.map((l: { Digest: string; Size: number }) => [l.Digest, l.Size])).to.deep.equal(
        multi.manifests[0]!.layers.map((l) => [l.digest, l.size]),
      );
    });

    it('--override-arch/--override-variant pick another instance; an absent platform is a clear error', async () => {
      const f = await ferry(['--override-arch', 'arm64', 'inspect', '--tls-verify=false', ref()]);
      expect(JSON.parse(f.stdout)).to.include({ Architecture: 'arm64', Variant: 'v8', InstanceDigest: multi.manifests[1]!.digest });
      const bad = await ferry(['inspect', '--tls-verify=false', '--override-arch', 's390x', ref()]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.match(/^Error: .*s390x.*\n$/);
      expect(bad.stderr).to.contain('linux/amd64');
    });

    it('--override-arch arm without a variant takes the arm/v7 instance, as skopeo does', async () => {
      const arm = await buildImage(path.join(await cleanup.tempDir('ferry-inspect-arm-'), 'img'), {
        seed: 31,
        layers: 1,
        layerSize: 64,
        platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm', variant: 'v7' }],
      });
      await pushImage(arm, reg(), 'team/arm:1');
      const r = `docker://${reg().host}/team/arm:1`;
      const s = await run('skopeo', ['--override-arch', 'arm', 'inspect', '--tls-verify=false', '--config', '--raw', r]);
      expect(s.code, s.stderr).to.equal(0);
      const f = await ferry(['--override-arch', 'arm', 'inspect', '--tls-verify=false', '--format', '{{.Architecture}}/{{.Variant}} {{.InstanceDigest}}', r]);
      expect(f.code, f.stderr).to.equal(0);
      expect(f.stdout).to.equal(`arm/v7 ${arm.manifests[1]!.digest}\n`);
      expect((await ferry(['--override-arch', 'arm', 'inspect', '--tls-verify=false', '--config', '--raw', r])).stdout).to.equal(s.stdout);
    });

    it('a platform the list lacks fails in containers/image\'s words, as skopeo prints them', async () => {
      await pushImage(dockerMulti, reg(), 'team/dmulti:1');
      const cases: [string, string[]][] = [
        [ref(), ['--override-arch', 's390x']],
        [ref(), ['--override-arch', 'arm64', '--override-variant', 'v7']],
        [`docker://${reg().host}/team/dmulti:1`, ['--override-arch', 's390x']],
        [`docker://${reg().host}/team/dmulti:1`, ['--override-os', 'windows']],
      ];
      for (const [r, flags] of cases) {
        const s = await run('skopeo', [...flags, 'inspect', '--tls-verify=false', r]);
        expect(s.code).to.equal(1);
        // logrus: level=fatal msg="Error parsing manifest for image: choosing image instance: no image found …"
        const said = JSON.parse(/level=fatal msg=("(?:[^"\\]|\\.)*")/.exec(s.stderr)![1]!) as string;
        const words = said.slice(said.indexOf('choosing image instance: '));
        expect(words, said).to.match(/^choosing image instance: no image found in (manifest list|image index) for architecture \S+, variant "\S*", OS \S+$/);
        const f = await ferry([...flags, 'inspect', '--tls-verify=false', r]);
        expect(f.code).to.equal(1);
        expect(f.stderr, flags.join(' ')).to.match(new RegExp(`^Error: ${words.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; available: linux/amd64, linux/arm64/v8\n$`));
      }
    });

    it('--config --format formats the config as skopeo does; --raw --format is refused with skopeo\'s words', async () => {
      const tpl = '{{.OS}}/{{.Architecture}} {{.Created}} {{.Config.Env}} {{.RootFS.Type}} {{len .RootFS.DiffIDs}}';
      const f = await ferry(['inspect', '--tls-verify=false', '--config', '--format', tpl, ref()]);
      expect(f.code, f.stderr).to.equal(0);
      const s = await skopeo(['inspect', '--tls-verify=false', '--config', '--format', tpl, ref()]);
      expect(f.stdout).to.equal(s.stdout);
      expect(f.stdout).to.equal(`linux/amd64 2024-01-01 00:00:00 +0000 UTC [PATH=/bin K=v] layers 2\n`);
      for (const flags of [['--raw'], ['--raw', '--config']]) {
        const bad = await ferry(['inspect', '--tls-verify=false', ...flags, '--format', '{{.Architecture}}', ref()]);
        expect(bad.code).to.equal(1);
        expect(bad.stderr).to.equal('Error: raw output does not support format option\n');
        const sb = await run('skopeo', ['inspect', '--tls-verify=false', ...flags, '--format', '{{.Architecture}}', ref()]);
        expect(sb.stderr).to.contain('raw output does not support format option');
      }
    });

    it('--no-tags and --format', async () => {
      const f = await ferry(['inspect', '--tls-verify=false', '--no-tags', ref()]);
      expect(JSON.parse(f.stdout).RepoTags).to.deep.equal([]);
      const t = await ferry(['inspect', '--tls-verify=false', '--override-arch', 'amd64', '--format', '{{.Digest}} {{.Architecture}} {{json .Labels}}', ref()]);
      expect(t.code, t.stderr).to.equal(0);
      // containers/common's template `json` does not escape HTML, unlike the default output
      expect(t.stdout).to.equal(`${multi.digest} amd64 {"a.b":"x<y>&z","team":"ferry"}\n`);
    });

    it('--format calls time methods on .Created as skopeo does (.Unix, .Format with a Go layout, variables)', async () => {
      for (const format of ['{{.Created.Unix}} {{.Created.Year}} {{.Created.Weekday}}', '{{.Created.Format "2006-01-02T15:04:05Z07:00 Mon Jan _2 3:04PM"}}', '{{$c := .Created}}{{$c.UTC.Format "Jan 2, 2006"}}']) {
        const s = await run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'amd64', '--format', format, ref()]);
        expect(s.code, s.stderr).to.equal(0);
        const f = await ferry(['inspect', '--tls-verify=false', '--override-arch', 'amd64', '--format', format, ref()]);
        expect(f.code, f.stderr).to.equal(0);
        expect(f.stdout, format).to.equal(s.stdout);
      }
    });

    it('--format: variables declared in if/with/range pipelines and assigned with =, scoped to their block, as skopeo', async () => {
      const formats = [
        '{{$x := .Os}}{{if true}}{{$x = "in"}}{{end}}{{$x}}',
        '{{$x := .Os}}{{if true}}{{$x := "in"}}{{$x}}{{end}}/{{$x}}',
        '{{$n := 0}}{{range .Layers}}{{$n = len .}}{{end}}{{$n}}',
        '{{$last := ""}}{{range $i, $l := .Layers}}{{$last = $i}}{{end}}{{$last}}',
        '{{if $a := .Os}}{{$a}}{{else}}no{{end}}|{{with $a := .Architecture}}{{$a}}-{{.}}{{end}}|{{with $a := .Name}}x{{else}}[{{$a}}]{{end}}',
        '{{if false}}{{else if $b := .Os}}{{$b}}{{end}}|{{range $e := .Layers}}{{$e}};{{end}}',
        '{{$i := 9}}{{$e := 0}}{{range $i, $e = .Layers}}{{end}}{{$i}}',
        '{{$x := 1}}{{range .Layers}}{{$x := 5}}{{$x = 6}}{{end}}{{$x}}|{{$x := "a"}}{{if $x = "b"}}{{$x}}{{end}}{{$x}}',
        '{{range $e := .RepoTags}}x{{else}}[{{$e}}]{{end}}|{{$ = 1}}{{$}}',
      ];
      for (const format of formats) {
        const args = ['inspect', '--tls-verify=false', '--no-tags', '--override-arch', 'amd64', '--format', format, ref()];
        const s = await run('skopeo', args);
        expect(s.code, s.stderr).to.equal(0);
        const f = await ferry(args);
        expect(f.code, f.stderr).to.equal(0);
        expect(f.stdout, format).to.equal(s.stdout);
      }
      // what Go refuses when it parses the template: a variable outside its block, an `=` against a name
      for (const [format, said] of [
        ['{{if true}}{{$z := 1}}{{end}}{{$z}}', 'undefined variable "$z"'],
        ['{{if false}}{{$q}}{{end}}', 'undefined variable "$q"'],
        ['{{if $a, $b := 1}}{{end}}', 'too many declarations in if'],
        ['{{$x := 1}}{{$x=3}}', "bad character U+003D '='"],
      ]) {
        const args = ['inspect', '--tls-verify=false', '--no-tags', '--format', format!, ref()];
        const s = await run('skopeo', args);
        expect(s.code, format).to.equal(1);
        expect(s.stderr, format).to.contain(said!.replace(/"/g, '\\"'));
        const f = await ferry(args);
        expect(f.code, format).to.equal(1);
        expect(f.stderr, format).to.equal(`Error: template: ${said}\n`);
      }
    });

    it('an unknown tag or repository exits 2 with one line', async () => {
      for (const r of [`docker://${reg().host}/team/multi:nope`, `docker://${reg().host}/team/absent:1`]) {
        const f = await ferry(['inspect', '--tls-verify=false', r]);
        expect(f.code, f.stderr).to.equal(2);
        expect(f.stderr.trim().split('\n')).to.have.length(1);
        // skopeo's words: `reading manifest TAG in HOST/REPO: …`
        const [repo, tag] = r.replace('docker://', '').split(/:(?=[^:/]+$)/);
        expect(f.stderr).to.contain(`reading manifest ${tag} in ${repo}: `);
        expect(f.stdout).to.equal('');
      }
    });

    it('malformed references exit 1 with a message naming the problem', async () => {
      const cases: [string, RegExp][] = [
        ['docker://UPPER/case', /lowercase|invalid reference/],
        ['busybox', /no transport.*docker/],
        ['nosuch://x', /unknown transport|known transports/],
        ['docker:busybox', /\/\//],
        [`docker://${reg().host}/a@sha256:123`, /digest/],
      ];
      for (const [name, re] of cases) {
        const f = await ferry(['inspect', name]);
        expect(f.code, name).to.equal(1);
        expect(f.stderr, name).to.match(re);
        expect(f.stderr.trim().split('\n'), name).to.have.length(1);
      }
    });

    it('refuses a manifest that does not match its digest', async () => {
      const proxy = await startFaultProxy(reg().url, (req) =>
        req.method === 'GET' && req.path.includes('/manifests/') ? { kind: 'corrupt', atByte: 40 } : undefined,
      );
      try {
        const byDigest = `docker://${proxy.host}/team/multi@${multi.digest}`;
        const f = await ferry(['inspect', '--raw', '--tls-verify=false', byDigest]);
        expect(f.code).to.equal(1);
        expect(f.stderr).to.match(/digest mismatch/);
        expect(f.stdout).to.equal('');
        const byTag = await ferry(['inspect', '--raw', '--tls-verify=false', `docker://${proxy.host}/team/multi:1.0`]);
        expect(byTag.code).to.equal(1);
        expect(byTag.stderr).to.match(/digest/);
      } finally {
        await proxy.stop();
      }
    });

    it('a registry that is down fails fast with a network error', async () => {
      const { freePort } = await import('../../harness/registry.js');
      const port = await freePort();
      const started = Date.now();
      const f = await ferry(['inspect', '--tls-verify=false', '--retry-times', '1', '--retry-delay', '10ms', `docker://127.0.0.1:${port}/a/b:c`]);
      expect(f.code).to.equal(1);
      expect(f.stderr).to.match(/127\.0\.0\.1:\d+/).and.match(/refused|connect/i);
      expect(Date.now() - started).to.be.below(10_000);
    });
  });

  describe('basic-auth registry: credentials', () => {
    const reg = useRegistry('basic');
    before(async () => pushImage(multi, reg(), 'team/multi:1.0'));

    it('a wrong password is a clear error and the password is printed nowhere', async () => {
      const secret = 'Wr0ng-S3cret-Passw0rd';
      const f = await ferry(['inspect', '--cert-dir', reg().certDir!, '--creds', `${reg().username}:${secret}`, `docker://${reg().host}/team/multi:1.0`]);
      expect(f.code).to.equal(1);
      expect(f.stderr).to.match(/unauthorized|authentication|username|password/i);
      expect(f.stderr + f.stdout).not.to.contain(secret);
      const dbg = await ferry(['--debug', 'inspect', '--cert-dir', reg().certDir!, '--creds', `${reg().username}:${secret}`, `docker://${reg().host}/team/multi:1.0`]);
      expect(dbg.stderr).to.contain('E_UNAUTHORIZED');
      expect(dbg.stderr + dbg.stdout).not.to.contain(secret);
    });

    it('without credentials the registry refuses, and TLS without the CA is refused', async () => {
      const f = await ferry(['inspect', '--cert-dir', reg().certDir!, '--no-creds', `docker://${reg().host}/team/multi:1.0`]);
      expect(f.code).to.equal(1);
      const g = await ferry(['inspect', '--creds', `${reg().username}:${reg().password}`, `docker://${reg().host}/team/multi:1.0`]);
      expect(g.code).to.equal(1);
      expect(g.stderr).to.match(/certificate|TLS/i);
    });

    it('uses credentials from --authfile', async () => {
      const dir = await cleanup.tempDir('ferry-auth-');
      const authfile = path.join(dir, 'auth.json');
      const { writeFile } = await import('node:fs/promises');
      const auth = Buffer.from(`${reg().username}:${reg().password}`).toString('base64');
      await writeFile(authfile, JSON.stringify({ auths: { [`${reg().host}`]: { auth } } }));
      const f = await ferry(['inspect', '--raw', '--cert-dir', reg().certDir!, '--authfile', authfile, `docker://${reg().host}/team/multi:1.0`]);
      expect(f.code, f.stderr).to.equal(0);
      expect(digestOf(f.stdoutBytes)).to.equal(multi.digest);
    });
  });

  describe('oci: and dir: transports', () => {
    it('inspect agrees with skopeo on an OCI layout and on a dir written by skopeo', async () => {
      const dir = await cleanup.tempDir('ferry-inspect-local-');
      const single = await buildImage(path.join(dir, 'layout'), { seed: 13, tag: 'v1', labels: { k: 'v' } });
      await skopeo(['copy', `oci:${single.layoutDir}:v1`, `dir:${path.join(dir, 'd')}`]);
      for (const ref of [`oci:${single.layoutDir}:v1`, `dir:${path.join(dir, 'd')}`]) {
        const f = await ferry(['inspect', ref]);
        expect(f.code, f.stderr).to.equal(0);
        const s = await skopeo(['inspect', ref]);
        expect(asSkopeo193(f.stdout), ref).to.equal(asSkopeo193(s.stdout));
        for (const flags of [['--raw'], ['--config', '--raw']]) {
          const fr = await ferry(['inspect', ...flags, ref]);
          const sr = await skopeo(['inspect', ...flags, ref]);
          expect(fr.stdoutBytes.equals(sr.stdoutBytes), `${ref} ${flags}`).to.equal(true);
        }
      }
      const missing = await ferry(['inspect', `oci:${single.layoutDir}:nope`]);
      expect(missing.code).to.equal(2);
    });

    it('an image missing from containers-storage "does not resolve to an image ID", as skopeo says, and exits 2', async () => {
      const dir = await cleanup.tempDir('ferry-inspect-store-');
      const store = `[vfs@${path.join(dir, 'graph')}+${path.join(dir, 'run')}]`;
      const name = `containers-storage:${store}missing`;
      const s = await run('skopeo', ['inspect', name]);
      const expected = `reference "${store}docker.io/library/missing:latest" does not resolve to an image ID: identifier is not an image`;
      expect(s.stderr).to.contain(JSON.stringify(expected).slice(1, -1));
      const f = await ferry(['inspect', name]);
      expect(f.code).to.equal(2);
      expect(f.stderr).to.equal(`Error: ${expected}\n`);
    });
  });
});
