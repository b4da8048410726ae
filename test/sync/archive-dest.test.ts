import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { run } from '../harness/procs.js';
import { makeTempDir, removeDir } from '../harness/tmp.js';

/** The compiled src/ next to this compiled test (.build/src). */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * The file modules a fresh Node process loads while it runs `body` (a module body that may `await`), as paths
 * relative to the compiled src/, recorded by a module loader hook.
 */
async function modulesLoadedBy(body: string): Promise<string[]> {
  const dir = await makeTempDir('ferry-modules-');
  try {
    const log = path.join(dir, 'loaded.txt');
    const hooks = `import { appendFileSync } from 'node:fs';
      export async function load(url, context, next) {
        if (url.startsWith('file:')) appendFileSync(${JSON.stringify(log)}, url + '\\n');
        return next(url, context);
      }`;
    const setup = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
    const r = await run(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(setup)}`, '--input-type=module', '-e', body]);
    expect(r.code, r.stderr).to.equal(0);
    const urls = (await readFile(log, 'utf8')).split('\n').filter((u) => u !== '');
    return urls.map((u) => fileURLToPath(u)).map((p) => (p.startsWith(SRC + path.sep) ? path.relative(SRC, p) : p));
  } finally {
    await removeDir(dir);
  }
}

describe('sync: openSyncTarget', function () {
  this.timeout(60_000);

  it('a sync into a registry or directories loads none of the OCI layout and archive code (nor the tar library)', async function () {
    const mod = pathToFileURL(path.join(SRC, 'sync/archive-dest.js')).href;
    const loaded = await modulesLoadedBy(
      `const { openSyncTarget } = await import(${JSON.stringify(mod)});
       if ((await openSyncTarget('docker', 'registry.example/ns', {})) !== undefined) throw new Error('docker: a target');
       if ((await openSyncTarget('dir', '/nonexistent/dir', {})) !== undefined) throw new Error('dir: a target');`,
    );
    expect(loaded).to.include(path.join('sync', 'archive-dest.js')); // the hook sees the modules
    const heavy = loaded.filter((p) => p.startsWith(path.join('transports', 'oci-archive')) || p.startsWith(path.join('transports', 'oci-layout')) || /[\\/]node_modules[\\/]tar[\\/]/.test(p));
    expect(heavy).to.deep.equal([]);
  });

  it('a layout target still names its images by ref name (and refuses a name that is not one)', async function () {
    const { openSyncTarget } = await import('../../src/sync/archive-dest.js');
    const t = (await openSyncTarget('oci', '/nonexistent/layout', {}))!;
    const r = t.reference('busybox:1.36');
    expect(r.name).to.equal('oci:/nonexistent/layout:busybox:1.36');
    expect(r.ref().toString()).to.equal('oci:/nonexistent/layout:busybox:1.36');
    expect(() => t.reference('bad name').ref()).to.throw(/not a valid OCI ref name/);
  });
});
