/**
 * A copy between two repositories of one registry mounts every blob from the source repository even when the
 * blob-location cache knows nothing (a fresh XDG_CACHE_HOME): the source tells the destination where its blobs are.
 * Checked in the registry's own access log, with real `bin/ferry copy` processes; across registries nothing is
 * mounted (a mount names a repository of the registry it is sent to, with that registry's credentials only).
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ferryProcess } from '../harness/cli.js';
import { buildImage, pushImage, type BuiltImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { logMark, loggedRequests, useRegistry, type RegistryMode, type TestRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

for (const mode of ['http', 'token'] as RegistryMode[]) {
  describe(`copy: docker → docker within one registry, cold blob-location cache (${mode} registry, access log)`, function () {
    this.timeout(60_000);
    const registry = useRegistry(mode);
    const other = useRegistry('http');
    const cleanup = useCleanup();
    let img: BuiltImage;
    let home: string;
    let n = 0;
    /** A fresh HOME and XDG_CACHE_HOME for each copy: the blob-location cache is empty. */
    const env = async () => {
      const h = join(home, `run${n++}`);
      return { HOME: h, XDG_CACHE_HOME: join(h, 'cache'), CONTAINERS_REGISTRIES_CONF: join(home, 'empty.conf'), REGISTRY_AUTH_FILE: join(home, 'no-auth.json') };
    };
    const flags = (reg: TestRegistry, side: 'src' | 'dest') =>
      reg.certDir
        ? [`--${side}-cert-dir`, reg.certDir, ...(reg.username ? [`--${side}-creds`, `${reg.username}:${reg.password}`] : [])]
        : [`--${side}-tls-verify=false`];
    const blobs = () => [img.manifests[0]!.configDigest, ...img.manifests[0]!.layers.map((l) => l.digest)];

    before(async () => {
      home = await cleanup.tempDir(`source-mount-${mode}`);
      await writeFile(join(home, 'empty.conf'), '');
      img = await buildImage(join(home, 'img'), { seed: 77, layers: 2, layerSize: 8_000 });
      const reg = registry();
      await pushImage(img, reg, 'team/a:t', reg.username ? { username: reg.username, password: reg.password! } : {});
    });

    it('mounts every blob from the source repository: no blob HEAD, no blob GET, no upload', async () => {
      const reg = registry();
      const mark = await logMark(reg);
      const r = await ferryProcess(['copy', '--quiet', ...flags(reg, 'src'), ...flags(reg, 'dest'), `docker://${reg.host}/team/a:t`, `docker://${reg.host}/team/b:t`], { env: await env() });
      expect(r.code, r.stderr).to.equal(0);
      const log = (await loggedRequests(reg, mark)).filter((q) => q.path.includes('/blobs/'));
      const mounts = log.filter((q) => q.method === 'POST' && q.path.includes('mount='));
      expect(mounts.map((q) => `${q.path.replace(/\?mount=([^&]*)&from=(.*)$/, (_m, d: string, f: string) => ` ${decodeURIComponent(d)} from ${decodeURIComponent(f)}`)} ${q.status}`).sort()).to.deep.equal(
        blobs().map((d) => `/v2/team/b/blobs/uploads/ ${d} from team/a 201`).sort(),
      );
      // nothing else about blobs: no HEAD, no GET from the source, no upload session
      expect(log.filter((q) => !mounts.includes(q))).to.deep.equal([]);
      const inspect = await run('skopeo', ['inspect', '--raw', ...(reg.certDir ? ['--cert-dir', reg.certDir] : ['--tls-verify=false']), ...(reg.username ? ['--creds', `${reg.username}:${reg.password}`] : []), `docker://${reg.host}/team/b:t`]);
      expect(inspect.code, inspect.stderr).to.equal(0);
      expect(inspect.stdoutBytes.equals(img.bytes)).to.equal(true);
    });

    it('from another registry: no mount is sent (the source repository is not on the destination registry)', async () => {
      const reg = registry();
      const dst = other();
      const mark = await logMark(dst);
      const r = await ferryProcess(['copy', '--quiet', ...flags(reg, 'src'), ...flags(dst, 'dest'), `docker://${reg.host}/team/a:t`, `docker://${dst.host}/team/a:t`], { env: await env() });
      expect(r.code, r.stderr).to.equal(0);
      const log = (await loggedRequests(dst, mark)).filter((q) => q.path.includes('/blobs/'));
      expect(log.filter((q) => q.path.includes('mount='))).to.deep.equal([]);
      // looked for, then uploaded
      expect(log.filter((q) => q.method === 'HEAD').map((q) => q.status)).to.deep.equal(blobs().map(() => 404));
      expect(log.filter((q) => q.method === 'PUT' && q.status === 201).length).to.equal(blobs().length);
    });
  });
}
