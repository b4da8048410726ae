/**
 * src/registry/undici.ts: ferry keeps V8 from re-compiling undici's WebAssembly HTTP parser with TurboFan (a background
 * job a short command would otherwise wait for before it exits) by raising V8's tier-up budget when undici loads. The
 * real bin/ferry inspects an image under V8's `--trace-wasm-compilation-times`, which reports every WebAssembly
 * function V8 compiles and with which compiler: the parser must have been compiled (Liftoff), never by TurboFan, and V8
 * must not have complained about the flag (a V8 that dropped it would print so on stderr).
 */
import { expect } from 'chai';
import path from 'node:path';
import { FERRY_BIN } from '../harness/cli.js';
import { buildImage, pushImage } from '../harness/images.js';
import { run } from '../harness/procs.js';
import { useRegistry } from '../harness/registry.js';
import { useCleanup } from '../harness/tmp.js';

describe('registry/undici: the WebAssembly HTTP parser stays on the baseline compiler', function () {
  this.timeout(120_000);
  const registry = useRegistry('http');
  const cleanup = useCleanup('after');

  it('inspect compiles the parser with Liftoff only', async () => {
    const dir = await cleanup.tempDir('ferry-undici-');
    const img = await buildImage(path.join(dir, 'img'), { seed: 41, layers: 3, layerSize: 1024 });
    const reg = registry();
    await pushImage(img, reg, 'undici/liftoff:1');
    const r = await run(process.execPath, ['--trace-wasm-compilation-times', FERRY_BIN, 'inspect', '--tls-verify=false', `docker://${reg.host}/undici/liftoff:1`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.include(`"Digest": "${img.digest}"`);
    const compiled = r.stdout.split('\n').filter((l) => l.startsWith('Compiled function '));
    expect(compiled.some((l) => l.includes(' using Liftoff')), 'the parser was compiled').to.equal(true);
    expect(compiled.filter((l) => l.includes(' using TurboFan'))).to.deep.equal([]);
  });
});
