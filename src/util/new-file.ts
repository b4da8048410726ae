/** Creating a file that must not exist yet (keys): never replaces anything, nothing half-written left behind. */
import { link, open, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, basename, join } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';

/**
 * Writes `data` to a temporary file beside `path` (mode `mode`), fsyncs it, then links it at `path`, which fails if
 * anything exists there; the temporary name is removed in every case.
 * @throws FerryError(E_USAGE) if `path` exists; E_IO for other failures.
 */
export async function writeNewFile(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(temp, 'wx', mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(temp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new FerryError(ErrorCode.Usage, `refusing to overwrite ${path}: it already exists`, { cause: e });
    throw new FerryError(ErrorCode.Io, `writing ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    await unlink(temp).catch(() => {});
  }
}
