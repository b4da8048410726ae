/** The check long-running loops make between steps. */
import { FerryError, ErrorCode } from '../errors.js';

/** Throws FerryError(E_ABORTED) naming `what` if `signal` is aborted. */
export function checkAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: signal.reason });
}
