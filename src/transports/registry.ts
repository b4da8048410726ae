/**
 * The transport registry: image names are `TRANSPORT:REST` (containers-transports(5)),
 * e.g. `docker://busybox`, `oci:/tmp/layout:tag`, `dir:/tmp/img`.
 * The list of transports lives in `shared/builtin-transports.ts`.
 */
import { redactCredentials } from '../util/redact.js';
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
    throw new FerryError(ErrorCode.UnknownTransport, `invalid image name "${s}": no transport; ${known}`);
  }
  const name = s.slice(0, colon);
  const transport = TRANSPORTS.get(name);
  if (!transport) {
    // `user:password@host/repo` parses as transport `user`: then neither the name nor that "transport" is echoed
    const shown = redactCredentials(s);
    const what = shown === s ? `unknown transport "${name}"` : 'no transport (an image name cannot carry credentials)';
    throw new FerryError(ErrorCode.UnknownTransport, `invalid image name "${shown}": ${what}; ${known}`);
  }
  return transport.parseReference(s.slice(colon + 1));
}
