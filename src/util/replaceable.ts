/**
 * The check before ferry replaces a file by renaming a new one over it: only a regular file (or nothing) is ever
 * replaced. A symbolic link is not replaced (nor written through), and neither is a FIFO, a device, a socket or a
 * directory, each of which someone put there for a reason of their own.
 */
import { lstat, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { FerryError, ErrorCode } from '../errors.js';
import { fileKind } from './bounded-read.js';

/** Options of {@link checkReplaceable}. */
export interface ReplaceableOptions {
  /** The refusal's code (default E_IO). */
  code?: ErrorCode;
  /**
   * A symbolic link whose target passes this is let through: the caller takes it as what it would write (a blob of
   * that size already there) and writes nothing. Without it, every link is refused.
   */
  linkTo?: (target: Stats) => boolean;
}

/** `a symbolic link to nothing`, `a symbolic link to a file of 10 bytes`, `a symbolic link to a FIFO`. */
function describeLink(target: Stats | undefined): string {
  if (target === undefined) return 'a symbolic link to nothing';
  return `a symbolic link to ${target.isFile() ? `a file of ${target.size} bytes` : fileKind(target)}`;
}

/**
 * Refuses to replace `path` unless it is a regular file or missing (a missing parent directory is left for the
 * write to report).
 * @param what names the file in the message (`OCI layout index /x/index.json`).
 * @throws FerryError (E_IO or `code`) `WHAT is a symbolic link, not a regular file: refusing to replace it` (a
 *   FIFO, a directory, …; with `linkTo`, what the link points to).
 */
export async function checkReplaceable(path: string, what: string, opts: ReplaceableOptions = {}): Promise<void> {
  const code = opts.code ?? ErrorCode.Io;
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return;
    throw new FerryError(code, `${what}: ${(e as Error).message}`, { cause: e });
  }
  if (st.isFile()) return;
  let kind = fileKind(st);
  if (st.isSymbolicLink() && opts.linkTo !== undefined) {
    const target = await stat(path).catch(() => undefined);
    if (target !== undefined && opts.linkTo(target)) return;
    kind = describeLink(target);
  }
  throw new FerryError(code, `${what} is ${kind}, not a regular file: refusing to replace it`);
}
