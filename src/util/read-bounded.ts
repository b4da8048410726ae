/** Reading a small file (JSON, keys, signatures) whole, with a size limit: never more than `limit` bytes in memory. */
import { open } from 'node:fs/promises';
import { FerryError, ErrorCode } from '../errors.js';

/** What skopeo allows for manifests, configs, signatures and JSON files. */
export const SMALL_FILE_LIMIT = 4 * 1024 * 1024;

/**
 * Reads `file` whole (regular files, devices and pipes alike: it reads until end of file, not by size), failing
 * once it holds more than `limit` bytes. `what` names the file's role in messages (`policy file`, `public key`).
 * @throws FerryError E_NOT_FOUND for a missing file, E_IO for any other failure or a file over the limit,
 *   E_ABORTED if `signal` aborts.
 */
export async function readBoundedFile(file: string, what: string, opts: { limit?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
  const limit = opts.limit ?? SMALL_FILE_LIMIT;
  const fail = (e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FerryError(ErrorCode.NotFound, `reading ${what} ${file}: no such file`, { cause: e });
    throw new FerryError(ErrorCode.Io, `reading ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  };
  const fh = await open(file, 'r').catch(fail);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      if (opts.signal?.aborted) throw new FerryError(ErrorCode.Aborted, `reading ${what} ${file}: aborted`, { cause: opts.signal.reason });
      const buf = Buffer.allocUnsafe(Math.min(64 * 1024, limit + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null).catch(fail);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limit) throw new FerryError(ErrorCode.Io, `reading ${what} ${file}: larger than the limit of ${limit} bytes`);
    }
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close().catch(() => {});
  }
}
