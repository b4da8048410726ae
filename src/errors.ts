/**
 * Every error ferry raises is a {@link FerryError} with a stable `code`.
 * The CLI (`cli/exit.ts`) is the only place that turns one into user text and an exit status.
 * Messages are one line, name what failed, and never contain credentials.
 */

/** Stable error codes. Never renumber or rename: scripts may match on them (`ferry ... --debug` prints them). */
export const ErrorCode = {
  /** Bad command-line usage (unknown flag combination, missing argument). */
  Usage: 'E_USAGE',
  /** A transport name that is not registered, or a reference without a transport. */
  UnknownTransport: 'E_UNKNOWN_TRANSPORT',
  /** A reference that does not parse or fails validation. */
  InvalidReference: 'E_INVALID_REFERENCE',
  /** The image, manifest, tag or repository does not exist (exit status 2). */
  NotFound: 'E_NOT_FOUND',
  /** Authentication required or rejected (wrong password, bad token). */
  Unauthorized: 'E_UNAUTHORIZED',
  /** Authenticated but not allowed. */
  Denied: 'E_DENIED',
  /** Rate limited and out of retries. */
  TooManyRequests: 'E_TOO_MANY_REQUESTS',
  /** Any other error answered by a registry. */
  Registry: 'E_REGISTRY',
  /** Connection refused, reset, DNS failure, timeout. */
  Network: 'E_NETWORK',
  /** TLS handshake or certificate verification failure. */
  Tls: 'E_TLS',
  /** Content does not match its digest. */
  DigestMismatch: 'E_DIGEST_MISMATCH',
  /** Content does not match its declared size (truncated or too long). */
  SizeMismatch: 'E_SIZE_MISMATCH',
  /** A manifest, index or config that cannot be parsed or is not valid. */
  InvalidManifest: 'E_INVALID_MANIFEST',
  /** No instance of a multi-platform image matches the requested platform. */
  NoMatchingPlatform: 'E_NO_MATCHING_PLATFORM',
  /** A feature the transport or format does not support. */
  Unsupported: 'E_UNSUPPORTED',
  /** A tarball that tries to escape its destination or is otherwise malicious. */
  HostileArchive: 'E_HOSTILE_ARCHIVE',
  /** A credential helper (`docker-credential-NAME`) that is missing, fails or answers something unreadable. */
  CredentialHelper: 'E_CREDENTIAL_HELPER',
  /** Invalid configuration file (auth.json, registries.conf, policy.json, …). */
  Config: 'E_CONFIG',
  /** Local file-system failure. */
  Io: 'E_IO',
  /** The file system (or the user's quota) is full: ENOSPC, EDQUOT. */
  NoSpace: 'E_NO_SPACE',
  /** A file or body larger than ferry reads into memory for its kind (manifest, config, signature, JSON). */
  TooLarge: 'E_TOO_LARGE',
  /** Operation aborted (Ctrl-C, AbortSignal). */
  Aborted: 'E_ABORTED',
  /** Rejected by the trust policy. */
  Policy: 'E_POLICY',
  /** Signature creation or verification failure. */
  Signature: 'E_SIGNATURE',
  /** A safeguard refused a destructive step (`sync --prune` deleting more tags than `--prune-max` allows). */
  Refused: 'E_REFUSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base error: a stable code, a one-line message and an optional cause. */
export class FerryError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'FerryError';
  }
}

/** One entry of a registry's JSON error body (`{"errors":[{code,message,detail}]}`). */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** An error answered by a registry (HTTP status and the registry's own error codes). */
export class RegistryError extends FerryError {
  /** HTTP status of the response. */
  readonly status: number;
  /** Error entries parsed from the body (may be empty). */
  readonly entries: RegistryErrorEntry[];
  /** Whether retrying the same request may succeed (429, 502, 503, 504). */
  readonly retryable: boolean;
  /** Seconds from `Retry-After`, if the registry sent one. */
  readonly retryAfter?: number;
  constructor(
    code: ErrorCode,
    message: string,
    init: { status: number; entries?: RegistryErrorEntry[]; retryable?: boolean; retryAfter?: number; cause?: unknown },
  ) {
    super(code, message, { cause: init.cause });
    this.name = 'RegistryError';
    this.status = init.status;
    this.entries = init.entries ?? [];
    this.retryable = init.retryable ?? false;
    this.retryAfter = init.retryAfter;
  }
}

/** Shorthand constructors keep call sites short and codes consistent. */
export const notFound = (what: string, cause?: unknown) => new FerryError(ErrorCode.NotFound, what, { cause });
export const invalidReference = (msg: string) => new FerryError(ErrorCode.InvalidReference, msg);
export const digestMismatch = (what: string, expected: string, actual: string) =>
  new FerryError(ErrorCode.DigestMismatch, `${what}: digest mismatch: expected ${expected}, got ${actual}`);
export const sizeMismatch = (what: string, expected: number, actual: number) =>
  new FerryError(ErrorCode.SizeMismatch, `${what}: size mismatch: expected ${expected} bytes, got ${actual}`);

/** errno codes of a full file system or quota. */
const NO_SPACE_ERRNO = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Wraps a file-system (or other I/O) failure into one line naming `what` (which should name the path, since
 * Node's messages for writes do not): E_ABORTED for aborts, E_NO_SPACE (`WHAT: no space left on device`) for a
 * full file system or quota, E_IO otherwise; FerryErrors pass through unchanged.
 */
export function ioError(what: string, e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  if ((e as { name?: unknown } | null)?.name === 'AbortError') return new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: e });
  const errno = (e as { code?: unknown } | null)?.code;
  if (typeof errno === 'string' && NO_SPACE_ERRNO.has(errno)) {
    const text = errno === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
    return new FerryError(ErrorCode.NoSpace, `${what}: ${text}`, { cause: e });
  }
  return new FerryError(ErrorCode.Io, `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** Whether `e`, or any error in its chain of causes, is a full file system (E_NO_SPACE, ENOSPC, EDQUOT). */
export function isNoSpace(e: unknown): boolean {
  for (let c = e, depth = 0; c !== undefined && c !== null && depth < 16; c = (c as { cause?: unknown }).cause, depth++) {
    if (isCode(c, ErrorCode.NoSpace)) return true;
    const errno = (c as { code?: unknown }).code;
    if (typeof errno === 'string' && NO_SPACE_ERRNO.has(errno)) return true;
  }
  return false;
}

/**
 * The error for data larger than ferry reads into memory: `WHAT is larger than LIMIT, refusing to read it`
 * (E_TOO_LARGE). `what` names the file or URL.
 */
export function tooLarge(what: string, limit: number): FerryError {
  return new FerryError(ErrorCode.TooLarge, `${what} is larger than ${formatLimit(limit)}: refusing to read it`);
}

/** `4194304` → `4 MiB`; other sizes in bytes. */
export function formatLimit(bytes: number): string {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10 && bytes % (1 << 10) === 0) return `${bytes / (1 << 10)} KiB`;
  return `${bytes} bytes`;
}

/** True if `e` is a FerryError with the given code. */
export function isCode(e: unknown, code: ErrorCode): e is FerryError {
  return e instanceof FerryError && e.code === code;
}

/** Exit status for an error: 2 for "not found" (like skopeo), 1 otherwise. */
export function exitStatusFor(e: unknown): number {
  return isCode(e, ErrorCode.NotFound) ? 2 : 1;
}
