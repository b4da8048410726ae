import { FerryError, exitStatusFor } from '../errors.js';
import { redactCredentials } from '../util/redact.js';

/** What the CLI knows about how the command ended, beyond the error. */
export interface FailureContext {
  /** `--command-timeout`'s value, when the command was stopped because it ran out of it. */
  timedOut?: string;
}

/**
 * Turns any error into the one line printed on stderr and the exit status:
 * 2 when the image or repository does not exist, 1 otherwise.
 * A command stopped by `--command-timeout` says so: `command timed out after 2s: <what was being done>` (the layers
 * below only know that their signal aborted, and name what they were doing).
 * With `debug`, the stable error code and the chain of causes follow on further lines.
 * Every line goes through {@link redactCredentials}: an image name typed as `docker://user:pass@host/…` never echoes
 * the password, in the message or in any cause.
 */
export function describeError(e: unknown, debug = false, ctx: FailureContext = {}): { message: string; status: number } {
  let first = oneLine(messageOf(e));
  if (ctx.timedOut !== undefined) {
    const doing = first.replace(/(?::\s*)?(?:operation )?aborted\.?$/i, '').trim();
    first = `command timed out after ${ctx.timedOut}${doing ? `: ${doing}` : ''}`;
  }
  let message = `Error: ${first}`;
  if (debug) {
    const lines = [message];
    if (e instanceof FerryError) lines.push(`  code: ${e.code}`);
    let cause = e instanceof Error ? e.cause : undefined;
    for (let depth = 0; cause !== undefined && depth < 8; depth++) {
      lines.push(`  caused by: ${oneLine(messageOf(cause))}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    message = lines.join('\n');
  }
  return { message, status: exitStatusFor(e) };
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

function oneLine(s: string): string {
  return redactCredentials(s.replace(/\s*\n\s*/g, '; ').trim());
}
