/**
 * src/registry/undici.ts loads undici's Agent from files inside the package instead of its index (see there why).
 * These tests fail when undici changes under that workaround: files moved, the request API no longer attached the
 * way the index attaches it, or the index's Agent no longer the class ferry uses.
 */
import { expect } from 'chai';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { runOk } from '../harness/procs.js';

const ours = fileURLToPath(new URL('../../src/registry/undici.js', import.meta.url));

describe('workarounds: undici without its index (registry/undici.ts)', () => {
  it('gives an Agent with the whole request API, in a process that never loads the index', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const { Agent } = await import(${JSON.stringify(ours)});
      const require = createRequire(${JSON.stringify(ours)});
      const index = require.resolve('undici');
      const loaded = Object.keys(require.cache).includes(index);
      const a = new Agent();
      const methods = ['request', 'stream', 'pipeline', 'connect', 'upgrade'].filter((m) => typeof a[m] === 'function');
      await a.close();
      console.log(JSON.stringify({ loaded, methods }));`;
    const r = await runOk(process.execPath, ['--input-type=module', '-e', script]);
    expect(JSON.parse(r.stdout)).to.deep.equal({ loaded: false, methods: ['request', 'stream', 'pipeline', 'connect', 'upgrade'] });
  });

  it("attaches what undici's index attaches, and its Agent is the index's", async () => {
    const { Agent } = await import('../../src/registry/undici.js');
    const require = createRequire(ours);
    const api = require('undici/lib/api/index.js') as Record<string, unknown>;
    const pub = require('undici') as { Agent: unknown; Dispatcher: { prototype: Record<string, unknown> } };
    expect(Agent).to.equal(pub.Agent);
    expect(Object.keys(api).sort()).to.deep.equal(['connect', 'pipeline', 'request', 'stream', 'upgrade']);
    for (const [name, fn] of Object.entries(api)) expect(pub.Dispatcher.prototype[name], name).to.equal(fn);
  });
});
