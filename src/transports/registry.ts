/**
 * The transport registry: image names are `TRANSPORT:REST` (containers-transports(5)),
 * e.g. `docker://busybox`, `oci:/tmp/layout:tag`, `dir:/tmp/img`.
 * The list of transports lives in `shared/builtin-transports.ts`.
 */
import { redactCredentials } from '../util/redact.js';
import { closest } from '../util/suggest.js';
import { parseNormalizedName } from '../reference/name.js';
import { FerryError, ErrorCode } from '../errors.js';
import type { ImageReference, Transport } from '../types/reference.js';
import * as builtin from './shared/builtin-transports.js';

const TRANSPORTS: ReadonlyMap<string, Transport> = new Map(
  (Object.values(builtin) as Transport[]).map((t) => [t.name, t] as const),
);

/** Names of all registered transports, sorted. */
export function transportNames(): string[] {
  return [...TRANSPORTS.keys()].sort();
}

/** The transport registered under `name`, or undefined. */
export function getTransport(name: string): Transport | undefined {
  return TRANSPORTS.get(name);
}

/**
 * Parses a full image name `TRANSPORT:REST` (split at the first `:`) with the named transport.
 * @throws FerryError(E_UNKNOWN_TRANSPORT) when there is no transport prefix or it is not registered,
 *         FerryError(E_INVALID_REFERENCE) when the transport rejects the rest.
 */
export function parseImageName(s: string): ImageReference {
  const known = `known transports: ${transportNames().join(', ')}`;
  const colon = s.indexOf(':');
  if (colon <= 0) {
    throw new FerryError(ErrorCode.UnknownTransport, `invalid image name "${s}": no transport${hint(s, undefined)}; ${known}`);
  }
  const name = s.slice(0, colon);
  const transport = TRANSPORTS.get(name);
  if (!transport) {
    // `user:password@host/repo` parses as transport `user`: then neither the name nor that "transport" is echoed
    const shown = redactCredentials(s);
    const what = shown === s ? `unknown transport "${name}"${hint(s, name)}` : 'no transport (an image name cannot carry credentials)';
    throw new FerryError(ErrorCode.UnknownTransport, `invalid image name "${shown}": ${what}; ${known}`);
  }
  return transport.parseReference(s.slice(colon + 1));
}

/**
 * What the user probably meant by an image name without a (known) transport: a mistyped transport (`ocl:/x` →
 * `oci:/x`), or a registry image written without `docker://` (`127.0.0.1:5000/app:1`, `busybox`).
 */
function hint(s: string, name: string | undefined): string {
  const near = name !== undefined ? closest(name, TRANSPORTS.keys()) : undefined;
  if (near !== undefined) return ` (did you mean "${near}${s.slice(name!.length)}"?)`;
  // `app.tar` is more likely a file than an image on Docker Hub
  if (!s.includes('/') && s.includes('.')) return '';
  try {
    parseNormalizedName(s);
  } catch {
    return '';
  }
  return ` (did you mean "docker://${s}"?)`;
}
