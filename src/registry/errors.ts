/**
 * Turns registry answers and network failures into ferry errors: one line, naming what failed, with the registry's own
 * message, never with credentials.
 */
import { FerryError, ErrorCode, RegistryError, type RegistryErrorEntry } from '../errors.js';
import { errnoCode, parseRetryAfter } from '../util/retry.js';

/** Parses `{"errors":[{code,message,detail}]}`; [] if the body is something else. */
export function parseErrorBody(body: string): RegistryErrorEntry[] {
  if (!body) return [];
  try {
    const j = JSON.parse(body) as { errors?: unknown };
    if (!Array.isArray(j?.errors)) return [];
    return j.errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
      .map((e) => ({
        code: typeof e['code'] === 'string' ? e['code'] : 'UNKNOWN',
        ...(typeof e['message'] === 'string' ? { message: e['message'] } : {}),
        ...(e['detail'] !== undefined ? { detail: e['detail'] } : {}),
      }));
  } catch {
    return [];
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request', 401: 'unauthorized: authentication required', 403: 'access denied', 404: 'not found', 405: 'method not allowed',
  409: 'conflict', 413: 'payload too large', 416: 'range not satisfiable', 429: 'too many requests',
  500: 'internal server error', 502: 'bad gateway', 503: 'service unavailable', 504: 'gateway timeout',
};

/** Printable, single-line, bounded. */
const clean = (s: string) => s.replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e\u00a0-\uffff]/g, '').slice(0, 300).trim();

/** Codes whose text scripts match in the registry's words, `code: message` as skopeo prints them (`unauthorized: authentication required`). */
const PREFIXED_CODES = new Set(['UNAUTHORIZED', 'DENIED']);

/** One error entry as printed: its message (or its code in words); for authentication errors the code first, as skopeo. */
function entryText(e: RegistryErrorEntry): string {
  const codeWords = e.code.toLowerCase().replace(/_/g, ' ');
  const message = clean(e.message || codeWords);
  if (!message) return '';
  return PREFIXED_CODES.has(e.code.toUpperCase()) && message.toLowerCase() !== codeWords ? `${codeWords}: ${message}` : message;
}

function entryTexts(entries: RegistryErrorEntry[]): string[] {
  return [...new Set(entries.map(entryText).filter(Boolean))];
}

/** What a registry said in an error answer, as printed after `what: ` (`unauthorized: authentication required`). */
export function registryText(status: number, entries: RegistryErrorEntry[]): string {
  const unique = entryTexts(entries);
  return unique.length ? unique.join('; ') : (STATUS_TEXT[status] ?? `HTTP status ${status}`);
}

/**
 * A non-2xx answer as a {@link RegistryError}: MANIFEST_UNKNOWN / NAME_UNKNOWN / BLOB_UNKNOWN / 404 → E_NOT_FOUND,
 * UNAUTHORIZED / 401 → E_UNAUTHORIZED, DENIED / 403 → E_DENIED, TOOMANYREQUESTS / 429 → E_TOO_MANY_REQUESTS (retryable),
 * 502/503/504 → E_REGISTRY (retryable), anything else E_REGISTRY.
 * @param what names the object, e.g. `docker://HOST/REPO:TAG`; the message is `what: <registry message>`.
 */
export function responseError(
  what: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): RegistryError {
  const entries = parseErrorBody(body);
  const codes = new Set(entries.map((e) => e.code.toUpperCase()));
  let code: ErrorCode = ErrorCode.Registry;
  if (codes.has('MANIFEST_UNKNOWN') || codes.has('NAME_UNKNOWN') || codes.has('BLOB_UNKNOWN') || codes.has('MANIFEST_BLOB_UNKNOWN')) code = ErrorCode.NotFound;
  else if (codes.has('TOOMANYREQUESTS') || status === 429) code = ErrorCode.TooManyRequests;
  else if (codes.has('UNAUTHORIZED') || status === 401) code = ErrorCode.Unauthorized;
  else if (codes.has('DENIED') || status === 403) code = ErrorCode.Denied;
  else if (status === 404) code = ErrorCode.NotFound;
  const retryable = status === 429 || status === 502 || status === 503 || status === 504;
  const unique = entryTexts(entries);
  let text = unique.length ? unique.join('; ') : (STATUS_TEXT[status] ?? `HTTP status ${status}`);
  if (code === ErrorCode.Registry && !unique.length) text = `unexpected HTTP status ${status}`;
  else if (code === ErrorCode.Registry) text += ` (HTTP status ${status})`;
  return new RegistryError(code, `${what}: ${text}`, {
    status,
    entries,
    retryable,
    retryAfter: retryable ? parseRetryAfter(headers['retry-after']) : undefined,
  });
}

const TLS_CODES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'x509: certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT: 'x509: certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'x509: certificate signed by unknown authority',
  SELF_SIGNED_CERT_IN_CHAIN: 'x509: certificate signed by unknown authority',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'x509: certificate signed by unknown authority (self-signed)',
  CERT_HAS_EXPIRED: 'x509: certificate has expired',
  CERT_NOT_YET_VALID: 'x509: certificate is not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'x509: certificate is not valid for this host name',
  CERT_REVOKED: 'x509: certificate has been revoked',
  ERR_SSL_WRONG_VERSION_NUMBER: 'TLS handshake failed: the server does not speak TLS (an HTTP registry? use --tls-verify=false)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'TLS handshake failed: the server does not trust our client certificate',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'TLS handshake failed',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'TLS handshake failed: the server requires a client certificate',
  EPROTO: 'TLS handshake failed',
};

const NET_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the response',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the response',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  UND_ERR_CLOSED: 'connection closed',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'temporary failure in name resolution',
  ENETUNREACH: 'network is unreachable',
  EHOSTUNREACH: 'no route to host',
  EPIPE: 'broken pipe',
};

/** Whether `e` is a TLS verification or handshake failure. */
export function isTlsError(e: unknown): boolean {
  const code = errnoCode(e);
  if (code && code in TLS_CODES) return true;
  return code?.startsWith('ERR_SSL_') === true || code?.startsWith('ERR_TLS_') === true;
}

/**
 * A thrown transport error as E_ABORTED, E_TLS or E_NETWORK (`what: connection refused`); FerryErrors pass through.
 * @param what e.g. `pinging registry 127.0.0.1:5000`.
 */
export function transportError(what: string, e: unknown, signal?: AbortSignal): FerryError {
  if (e instanceof FerryError) return e;
  const name = (e as Error | undefined)?.name;
  if (signal?.aborted || name === 'AbortError' || errnoCode(e) === 'UND_ERR_ABORTED') {
    return new FerryError(ErrorCode.Aborted, 'operation aborted', { cause: e });
  }
  const code = errnoCode(e);
  if (isTlsError(e)) {
    const text = (code && TLS_CODES[code]) ?? `TLS error (${code})`;
    return new FerryError(ErrorCode.Tls, `${what}: ${text}`, { cause: e });
  }
  const text = (code && NET_TEXT[code]) ?? (code ? `network error (${code})` : clean(String((e as Error)?.message ?? e)));
  return new FerryError(ErrorCode.Network, `${what}: ${text}`, { cause: e });
}
