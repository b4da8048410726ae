/**
 * What one copy reads and writes of its configuration and cache, counted in the real process's system calls
 * (strace): registries.conf is opened once, though both sides of a registry → registry copy consult it, and the
 * blob-location cache is written once, though both sides record locations in it. Different settings of the two
 * sides (`--src-cert-dir`) still get lookups of their own.
 */
import { expect } from 'chai';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FERRY_BIN, withTestPolicy } from '../harness/cli.js';
import { buildImage, pushImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

describe('copy: configuration read once, blob-location cache written once', function () {
  this.timeout(120_000);
  const cleanup = useCleanup('after');
  // two registries: every blob is read from the first (no mount), so both sides record locations
  const registry = useRegistry('http');
  const other = useRegistry('http');

  /** Runs bin/ferry under strace; the trace's lines. */
  async function traced(dir: string, args: string[]): Promise<string[]> {
    const trace = path.join(dir, `strace-${Date.now()}.log`);
    const r = await run('strace', ['-f', '-qq', '-e', 'trace=open,openat,rename,renameat,renameat2', '-e', 'signal=none', '-o', trace, process.execPath, FERRY_BIN, ...withTestPolicy(args)], {
      env: { XDG_CACHE_HOME: path.join(dir, 'cache'), HOME: dir },
      timeoutMs: 100_000,
    });
    expect(r.code, r.stderr).to.equal(0);
    return (await readFile(trace, 'utf8')).split('\n');
  }

  it('registry → registry: registries.conf opened once, the cache renamed into place once; a --src-cert-dir is read for the source only', async () => {
    const dir = await cleanup.tempDir('config-once');
    const img = await buildImage(path.join(dir, 'img'), { seed: 631, tag: 'v1', layers: 3, layerSize: 4_000 });
    await pushImage(img, registry(), 'src/app:v1');
    const conf = path.join(dir, 'registries.conf');
    await writeFile(conf, 'unqualified-search-registries = []\n');
    const certs = path.join(dir, 'src-certs');
    await mkdir(certs);
    const lines = await traced(dir, ['--registries-conf', conf, 'copy', '-q', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-cert-dir', certs,
      `docker://${registry().host}/src/app:v1`, `docker://${other().host}/dst/app:v1`]);
    const opens = (name: string) => lines.filter((l) => /\bopen(at)?\(/.test(l) && l.includes(`"${name}"`) && !l.includes('ENOENT'));
    expect(opens(conf), 'opens of registries.conf').to.have.lengthOf(1);
    expect(opens(certs), 'opens of --src-cert-dir').to.have.lengthOf(1);
    const renames = lines.filter((l) => /\brename(at2?)?\(/.test(l) && /blob-info-cache\.json"/.test(l.slice(l.lastIndexOf(','))));
    expect(renames, 'writes of the blob-location cache').to.have.lengthOf(1);
    const cache = JSON.parse(await readFile(path.join(dir, 'cache', 'ferry', 'blob-info-cache.json'), 'utf8')) as { registries: Record<string, Record<string, { repo: string }[]>> };
    const config = (JSON.parse(img.bytes.toString()) as { config: { digest: string } }).config.digest;
    // both sides' records are in that one write
    expect(cache.registries[registry().host]![config]!.map((l) => l.repo)).to.deep.equal(['src/app']);
    expect(cache.registries[other().host]![config]!.map((l) => l.repo)).to.deep.equal(['dst/app']);
  });

  it('sync registry → registry: registries.conf opened once for the listing and every copy', async () => {
    const dir = await cleanup.tempDir('config-once-sync');
    for (const [i, tag] of ['v1', 'v2'].entries()) {
      const img = await buildImage(path.join(dir, `img-${tag}`), { seed: 640 + i, tag, layers: 1, layerSize: 2_000 });
      await pushImage(img, registry(), `sync-src/app:${tag}`);
    }
    const conf = path.join(dir, 'registries.conf');
    await writeFile(conf, 'unqualified-search-registries = []\n');
    const lines = await traced(dir, ['--registries-conf', conf, 'sync', '-q', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false',
      `${registry().host}/sync-src/app`, `${other().host}/mirror`]);
    const opens = lines.filter((l) => /\bopen(at)?\(/.test(l) && l.includes(`"${conf}"`) && !l.includes('ENOENT'));
    expect(opens, 'opens of registries.conf').to.have.lengthOf(1);
  });
});
