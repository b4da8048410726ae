/**
 * `docker-daemon:` against podman's Docker-compatible API (`podman system service`), started here on a socket in a
 * temporary directory with its own storage, and stopped at the end: ferry loads and reads images, skopeo reads what
 * ferry loaded and the other way round, with the same manifests; by name and by image ID; `--*-daemon-host` and
 * `DOCKER_HOST`; errors.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { ErrorCode } from '../../../src/errors.js';
import { parseImageName } from '../../../src/transports/registry.js';
import { ferry } from '../../harness/cli.js';
import { buildImage, type BuiltImage } from '../../harness/images.js';
import { run, runOk } from '../../harness/procs.js';
import { hasCommand, removeStore, tempStore } from '../../store/helpers.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** GET `path` on the unix socket; the status code, or undefined when nothing answers. */
function ping(socketPath: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/** The layer files of a `dir:` image, hashed, in manifest order. */
function dirLayerDigests(dir: string): string[] {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
  return m.layers.map((l) => sha(readFileSync(join(dir, l.digest.slice(7)))));
}

describe('transports/docker-daemon (podman system service)', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempStore>;
  let service: ChildProcess | undefined;
  let host: string;
  let img: BuiltImage;

  before(async function () {
    if (!hasCommand('podman') || !hasCommand('skopeo')) this.skip();
    t = tempStore('ferry-daemon-');
    const socket = join(t.dir, 'podman.sock');
    host = `unix://${socket}`;
    service = spawn(
      'podman',
      ['--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', 'system', 'service', '--time=0', host],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => service!.once('exit', () => resolve()));
    let up = false;
    // The service is up once it answers; poll it (bounded), giving up early if it exits.
    for (let i = 0; i < 400 && !up; i++) {
      up = (await ping(socket)) === 200;
      if (!up) await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
      if (service.exitCode !== null) break;
    }
    if (!up) throw new Error('podman system service did not start');
    img = await buildImage(join(t.dir, 'img'), { seed: 91, tag: 'v1', layers: 2, layerSize: 20_000 });
  });

  after(async () => {
    if (service && service.exitCode === null) {
      const gone = new Promise<void>((resolve) => service!.once('exit', () => resolve()));
      service.kill('SIGTERM');
      await gone;
    }
    if (t) removeStore(t.dir);
  });

  it('ferry loads an image (--dest-daemon-host); skopeo reads it with the same manifest ferry reads', async () => {
    const c = await ferry(['copy', '-q', '--dest-daemon-host', host, `oci:${img.layoutDir}:v1`, 'docker-daemon:example.com/app:v1']);
    expect(c.code, c.stderr).to.equal(0);
    const theirs = await runOk('skopeo', ['inspect', '--raw', '--daemon-host', host, 'docker-daemon:example.com/app:v1']);
    const ours = await ferry(['inspect', '--raw', '--daemon-host', host, 'docker-daemon:example.com/app:v1']);
    expect(ours.code, ours.stderr).to.equal(0);
    expect(ours.stdout).to.equal(theirs.stdout);
    const m = JSON.parse(ours.stdout) as { config: { digest: string }; layers: { digest: string }[] };
    expect(m.config.digest).to.equal(img.manifests[0]!.configDigest);
    expect(m.layers.map((l) => l.digest)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
  });

  it('reads by image ID, and DOCKER_HOST is used when no flag is given', async () => {
    const id = img.manifests[0]!.configDigest;
    const out = join(t.dir, 'by-id');
    const c = await ferry(['copy', '-q', `docker-daemon:${id}`, `dir:${out}`], { env: { DOCKER_HOST: host } });
    expect(c.code, c.stderr).to.equal(0);
    expect(dirLayerDigests(out)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
  });

  it('skopeo loads an image; ferry reads it (--src-daemon-host) with the same diff IDs', async () => {
    await runOk('skopeo', ['--insecure-policy', 'copy', '-q', '--dest-daemon-host', host, `oci:${img.layoutDir}:v1`, 'docker-daemon:example.com/by-skopeo:v2']);
    const out = join(t.dir, 'from-skopeo');
    const c = await ferry(['copy', '-q', '--src-daemon-host', host, 'docker-daemon:example.com/by-skopeo:v2', `dir:${out}`]);
    expect(c.code, c.stderr).to.equal(0);
    expect(dirLayerDigests(out)).to.deep.equal(img.manifests[0]!.layers.map((l) => l.diffId));
    const names = await run('podman', ['--root', t.G, '--runroot', t.R, '--storage-driver', 'vfs', 'images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(names.stdout).to.include('example.com/app:v1');
  });

  it('errors: no such image (exit 2), no daemon, unsupported host, bad references, ID destinations', async () => {
    let r = await ferry(['inspect', '--daemon-host', host, 'docker-daemon:example.com/missing:1']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('example.com/missing:1');
    r = await ferry(['inspect', '--daemon-host', `unix://${join(t.dir, 'nothing.sock')}`, 'docker-daemon:example.com/app:v1']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('nothing.sock');
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    r = await ferry(['inspect', '--daemon-host', 'ssh://somewhere', 'docker-daemon:example.com/app:v1']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('not supported');
    for (const bad of ['busybox', 'sha256:abc', `sha512:${'a'.repeat(128)}`, `busybox:1@sha256:${'a'.repeat(64)}`]) {
      expect(codeOf(() => parseImageName(`docker-daemon:${bad}`)), bad).to.equal(ErrorCode.InvalidReference);
    }
    const byId = parseImageName(`docker-daemon:sha256:${'a'.repeat(64)}`);
    expect(byId.stringWithinTransport()).to.equal(`sha256:${'a'.repeat(64)}`);
    expect(byId.dockerReference()).to.equal(undefined);
    expect(parseImageName('docker-daemon:busybox:1').dockerReference()).to.equal('docker.io/library/busybox:1');
    const e = await byId.newImageDestination({ dockerDaemonHost: host }).catch((x: { code?: string }) => x);
    expect((e as { code?: string }).code).to.equal(ErrorCode.InvalidReference);
  });
});
