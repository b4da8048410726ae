/**
 * `make demo`: starts a throw-away registry on 127.0.0.1, seeds it with a generated multi-arch
 * image, and runs ferry against it as a user would, printing each command and its output.
 * The registry and temp dirs are removed at the end, whatever happens.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRegistry, type TestRegistry } from './registry.js';
import { buildImage } from './images.js';
import { pushImage } from './images.js';
import { FERRY_BIN } from './cli.js';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
/** Quotes an argument the way a user would type it in a POSIX shell. */
const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);

/** Runs `ferry ARGS` with inherited stdout/stderr, echoing the command line first. */
function step(title: string, args: string[], expectCode = 0): Promise<void> {
  process.stdout.write(`\n${bold('## ' + title)}\n${bold('$ ferry ' + args.map(shellQuote).join(' '))}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY_BIN, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === expectCode) resolve();
      else reject(new Error(`ferry ${args.join(' ')} exited with ${code}, expected ${expectCode}`));
    });
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-demo-'));
  let reg: TestRegistry | undefined;
  try {
    process.stdout.write(bold('Starting a throw-away registry (Debian docker-registry) on 127.0.0.1 ...\n'));
    // ferry's blob-location cache goes to the demo's temp dir, so the demo leaves nothing behind
    process.env.XDG_CACHE_HOME = path.join(work, 'cache');
    reg = await startRegistry('http');
    process.stdout.write(`registry at ${reg.url}\n`);
    const image = await buildImage(path.join(work, 'layout'), {
      seed: 42,
      tag: '1.0',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ],
      labels: { 'org.opencontainers.image.title': 'ferry demo' },
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello'],
      layers: 2,
      smallFiles: 200,
    });
    const repo = `${reg.host}/demo/hello`;
    for (const tag of ['1.0', '1.1', 'latest']) await pushImage(image, reg, `demo/hello:${tag}`);
    process.stdout.write(`pushed a generated two-platform image as ${repo}:{1.0,1.1,latest}\n`);

    // The demo's own home: its trust policy and registries.d are where a user's are (~/.config/containers/), so the
    // commands below show no --policy flag and never read the machine's policy.json.
    const home = path.join(work, 'home');
    const conf = path.join(home, '.config', 'containers');
    await mkdir(path.join(conf, 'registries.d'), { recursive: true });
    process.env.HOME = home;
    const key = path.join(work, 'demo-key');
    const pass = path.join(work, 'passphrase');
    await writeFile(pass, 'demo passphrase\n');
    await step('Trust: make a sigstore key pair (cosign format) for signing on copy', ['generate-sigstore-key', '--output-prefix', key, '--passphrase-file', pass]);
    const policy = {
      default: [{ type: 'insecureAcceptAnything' }],
      transports: {
        docker: {
          [`${reg.host}/demo/mirror`]: [{ type: 'reject' }],
          [`${reg.host}/signed`]: [{ type: 'sigstoreSigned', keyPath: `${key}.pub` }],
        },
      },
    };
    await writeFile(path.join(conf, 'policy.json'), JSON.stringify(policy, null, 2));
    await writeFile(path.join(conf, 'registries.d', 'demo.yaml'), `docker:\n  ${reg.host}/signed:\n    use-sigstore-attachments: true\n`);
    process.stdout.write(`\n${bold('## The trust policy in ~/.config/containers/policy.json')}\n${JSON.stringify(policy, null, 2)}\n`);
    process.stdout.write(`${bold('## registries.d: signatures of ' + reg.host + '/signed are sigstore attachments')}\n`);

    await step('Inspect a remote image (skopeo-compatible JSON, plus InstanceDigest and Platforms)', ['inspect', '--tls-verify=false', `docker://${repo}:1.0`]);
    await step('Pick another platform of the same index', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', '--format', '{{.Architecture}}/{{.Os}} {{.InstanceDigest}}', `docker://${repo}:1.0`]);
    await step('The exact index bytes', ['inspect', '--tls-verify=false', '--raw', `docker://${repo}:1.0`]);
    await step('The image config, as OCI', ['inspect', '--tls-verify=false', '--config', `docker://${repo}:1.0`]);
    await step('List the tags of the repository', ['list-tags', '--tls-verify=false', `docker://${repo}`]);
    const manifestFile = path.join(work, 'index.json');
    await writeFile(manifestFile, image.bytes);
    await step('Digest of a manifest file', ['manifest-digest', manifestFile]);
    await step('Inspect the local OCI layout the image was built in', ['inspect', '--format', '{{.Digest}} {{json .Labels}}', `oci:${image.layoutDir}:1.0`]);
    const ociOut = path.join(work, 'copied-layout');
    await step('Copy every platform to a local OCI layout (layers stream, verified by digest)', ['copy', '--all', '--src-tls-verify=false', `docker://${repo}:1.0`, `oci:${ociOut}:1.0`]);
    await step('Copy it back into a new repository: blobs already on the registry are mounted, not re-sent', ['copy', '--all', '--dest-tls-verify=false', `oci:${ociOut}:1.0`, `docker://${reg.host}/demo/mirror:1.0`]);
    await step('Convert to a docker save archive for Docker (uncompressed layers, extra tag)', ['copy', '--src-tls-verify=false', '--additional-tag', 'demo/hello:stable', `docker://${repo}:1.0`, `docker-archive:${path.join(work, 'hello.tar')}:demo/hello:1.0`]);
    await step('The trust policy refuses the mirror (a "reject" requirement for its scope): nothing is written, exit status 1', ['copy', '--src-tls-verify=false', `docker://${reg.host}/demo/mirror:1.0`, `dir:${path.join(work, 'refused')}`], 1);
    await step('Sign on copy: the image goes to the registry with a sigstore signature attached', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--sign-by-sigstore-private-key', `${key}.private`, '--sign-passphrase-file', pass, `docker://${repo}:1.0`, `docker://${reg.host}/signed/hello:1.0`]);
    await step('Pull it under the policy (sigstoreSigned with the public key): the signature is checked, then image and signature are copied', ['copy', '--src-tls-verify=false', `docker://${reg.host}/signed/hello:1.0`, `dir:${path.join(work, 'verified')}`]);
    await step('The same image copied there without a signature', ['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${repo}:1.0`, `docker://${reg.host}/signed/unsigned:1.0`]);
    await step('… is refused by the policy: nothing is written, exit status 1', ['copy', '--src-tls-verify=false', `docker://${reg.host}/signed/unsigned:1.0`, `oci:${path.join(work, 'refused')}:1.0`], 1);
    await step('The archive lists its tags', ['list-tags', `docker-archive:${path.join(work, 'hello.tar')}`]);
    await step('Mirror: every tag of the repository into another namespace of the registry', ['sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', repo, `${reg.host}/mirror`]);
    await step('Tags of the mirror', ['list-tags', '--tls-verify=false', `docker://${reg.host}/mirror/hello`]);
    const airgap = path.join(work, 'airgap.tar');
    await step('Air gap, outbound: every platform into one OCI archive to carry across', ['copy', '--all', '--src-tls-verify=false', `docker://${repo}:1.0`, `oci-archive:${airgap}:demo/hello:1.0`]);
    await step('Air gap, before import: every blob and manifest of the archive checked', ['verify-archive', airgap]);
    await step('Air gap, inbound: from the archive into the registry on the other side', ['copy', '--all', '--dest-tls-verify=false', `oci-archive:${airgap}:demo/hello:1.0`, `docker://${reg.host}/inside/hello:1.0`]);
    for (const side of [repo, `${reg.host}/inside/hello`]) {
      await step('The same image on both sides of the gap', ['inspect', '--tls-verify=false', '--format', '{{.Name}} {{.Digest}}', `docker://${side}:1.0`]);
    }
    await step('Remove one tag only; the image and its other tags stay', ['delete', '--tls-verify=false', '--tag-only', `docker://${repo}:1.1`]);
    await step('Tags after the delete', ['list-tags', '--tls-verify=false', `docker://${repo}`]);
    await step('An image that does not exist: one line, exit status 2', ['inspect', '--tls-verify=false', `docker://${repo}:nope`], 2);
    await step('A malformed reference: one line, exit status 1', ['inspect', 'docker://UPPER/case'], 1);
    process.stdout.write(`\n${bold('Demo finished.')}\n`);
  } finally {
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
