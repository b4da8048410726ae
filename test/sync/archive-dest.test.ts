import { expect } from 'chai';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { modulesLoadedBy } from '../harness/modules.js';

/** The compiled src/ next to this compiled test (.build/src). */
const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

describe('sync: openSyncTarget', function () {
  this.timeout(60_000);

  it('a sync into a registry or directories loads none of the OCI layout and archive code (nor the tar library)', async function () {
    const mod = pathToFileURL(path.join(SRC, 'sync/archive-dest.js')).href;
    const loaded = await modulesLoadedBy(
      `const { openSyncTarget } = await import(${JSON.stringify(mod)});
       if ((await openSyncTarget('docker', 'registry.example/ns', {})) !== undefined) throw new Error('docker: a target');
       if ((await openSyncTarget('dir', '/nonexistent/dir', {})) !== undefined) throw new Error('dir: a target');`,
      SRC,
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
