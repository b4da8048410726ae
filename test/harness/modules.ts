/** Which modules a fresh Node process loads (for tests that a module stays unloaded where it is not needed). */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './procs.js';
import { makeTempDir, removeDir } from './tmp.js';

/**
 * The file modules a fresh Node process loads while it runs `body` (an ES module body that may `await`), recorded by a
 * module loader hook: paths relative to `root` for those under it, absolute paths for the others.
 */
export async function modulesLoadedBy(body: string, root: string): Promise<string[]> {
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
    return urls.map((u) => fileURLToPath(u)).map((p) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p));
  } finally {
    await removeDir(dir);
  }
}
