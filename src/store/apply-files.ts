/**
 * One layer tar → files in `diffDir` plus its gzip'd tar-split file: {@link applyLayerTar} with the
 * tar-split writer attached. Layers are applied on the main thread; large file writes go to the thread pool.
 */
import { createWriteStream, openSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { applyLayerTar, type AppliedLayer, type ApplyOptions } from './apply.js';
import { TarSplitWriter } from './tar-split.js';

/** Applies the tar read from `source` and writes its tar-split to `tarSplitPath` (created, must not exist). */
export async function applyToFiles(source: AsyncIterable<Buffer>, diffDir: string, tarSplitPath: string, opts: ApplyOptions = {}): Promise<AppliedLayer> {
  const gz = createGzip();
  const out = createWriteStream('', { fd: openSync(tarSplitPath, 'wx', 0o600) });
  const outDone = pipeline(gz, out);
  outDone.catch(() => {});
  try {
    const applied = await applyLayerTar(source, diffDir, new TarSplitWriter((text) => gz.write(text)), opts);
    gz.end();
    await outDone;
    return applied;
  } catch (e) {
    gz.destroy();
    out.destroy();
    throw e;
  }
}
