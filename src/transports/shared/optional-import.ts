/**
 * Lazy loading of transport modules that may not be part of this build (yet).
 * Dynamic imports keep CLI start-up lean: a command pays only for the transports it uses.
 */
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FerryError, ErrorCode } from '../../errors.js';

/**
 * Imports the module at `url` (absolute `file:` URL, e.g. `new URL('./destination.js', import.meta.url).href`).
 * If that module file does not exist, throws FerryError(E_UNSUPPORTED) with `what` in the message;
 * any other failure (including a missing dependency of an existing module) is rethrown unchanged.
 */
export async function importOptional<T>(url: string, what: string): Promise<T> {
  try {
    return (await import(url)) as T;
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND' && !(await exists(url))) {
      throw new FerryError(ErrorCode.Unsupported, `${what} is not supported by this build of ferry`, { cause: e });
    }
    throw e;
  }
}

async function exists(url: string): Promise<boolean> {
  try {
    await access(fileURLToPath(url));
    return true;
  } catch {
    return false;
  }
}
