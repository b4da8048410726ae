/**
 * Docker image names, parsed and normalized like distribution/reference's `ParseNormalizedNamed`
 * (the copy vendored by containers/image and used by skopeo):
 *
 * - `busybox` → `docker.io/library/busybox`; `user/app` → `docker.io/user/app`;
 * - the first `/`-separated component is a registry host only if it contains `.` or `:` or is `localhost`;
 * - `index.docker.io` is an alias of `docker.io`;
 * - `name:tag`, `name@digest` and `name:tag@digest`.
 *
 * Pure string code: no I/O, no heavy imports.
 */
import { FerryError, ErrorCode } from '../errors.js';
import { parseDigest } from '../util/digest.js';
import { REDACTED, redactCredentials } from '../util/redact.js';

/** A parsed, normalized Docker image name. */
export interface DockerName {
  /** Registry host, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  readonly path: string;
  /** Tag, if one was given (or defaulted by {@link withDefaultTag}). */
  readonly tag?: string;
  /** Digest (`sha256:…`), if one was given. */
  readonly digest?: string;
}

/** The registry of Docker Hub, as written in normalized names. */
export const DEFAULT_DOMAIN = 'docker.io';
/** Legacy host name of Docker Hub, normalized to {@link DEFAULT_DOMAIN}. */
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** Namespace of Docker Hub's official images. */
export const OFFICIAL_REPO_PREFIX = 'library/';
/** Tag used when a name has neither tag nor digest. */
export const DEFAULT_TAG = 'latest';
/** Longest allowed `domain/path`. */
export const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar of distribution/reference (regexp.go). Written so that JavaScript's backtracking engine
// stays linear: the separator `[-]*` of the original is `-+` here, which matches the same language
// because an empty separator between two alphanumeric runs is just one longer run.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[[a-fA-F0-9:]+\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;

const anchoredPath = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const anchoredDomain = new RegExp(`^${DOMAIN_AND_PORT}$`);
const anchoredTag = /^[\w][\w.-]{0,127}$/;

/** Whether `tag` is a tag of the reference grammar: a word character, then at most 127 word characters, `.` or `-`. */
export function isValidTag(tag: string): boolean {
  return anchoredTag.test(tag);
}
const anchoredDigestSyntax = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const anchoredIdentifier = /^[a-f0-9]{64}$/;

function invalid(input: string, reason: string): FerryError {
  return new FerryError(ErrorCode.InvalidReference, redactCredentials(`invalid reference "${input}": ${reason}`));
}

/**
 * Where user information (`user:password@`, `user@`) ends in a name typed like a URL's authority, or -1: the last `@`
 * that does not start a digest, when a `/` follows it (`me:pw@host/repo`) or what precedes it has a `:` and no `/`
 * (`me:pw@host:5000`). Such a name is refused without echoing that part.
 */
function userInfoEnd(s: string): number {
  for (let at = s.lastIndexOf('@'); at >= 0; at = at > 0 ? s.lastIndexOf('@', at - 1) : -1) {
    const after = s.slice(at + 1);
    if (anchoredDigestSyntax.test(after)) continue;
    const before = s.slice(0, at);
    if (before.startsWith('[') && !before.includes(']')) return -1; // inside an IPv6 literal
    return after.includes('/') || (before.includes(':') && !before.includes('/')) ? at : -1;
  }
  return -1;
}

/**
 * Splits a familiar name into domain and remainder (path plus optional tag/digest),
 * adding `docker.io` and `library/` the way the Docker CLI does.
 */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost')) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses a name as the Docker CLI and skopeo accept it and returns it fully qualified.
 * Does not add a default tag (see {@link withDefaultTag}).
 *
 * @example parseNormalizedName('busybox') // {domain: 'docker.io', path: 'library/busybox'}
 * @example parseNormalizedName('localhost:5000/a/b:v1@sha256:…')
 * @throws FerryError(E_INVALID_REFERENCE) naming the input and what is wrong with it.
 */
export function parseNormalizedName(s: string): DockerName {
  if (s === '') throw invalid(s, 'repository name must have at least one component');
  if (anchoredIdentifier.test(s)) {
    throw new FerryError(
      ErrorCode.InvalidReference,
      `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`,
    );
  }
  const userInfo = userInfoEnd(s);
  if (userInfo >= 0) {
    throw new FerryError(
      ErrorCode.InvalidReference,
      `invalid reference "${REDACTED}${s.slice(userInfo)}": invalid reference format: an image name cannot carry credentials (use --creds or an auth file)`,
    );
  }
  const { domain, remainder } = splitDockerDomain(s);

  // `@` appears only before the digest; the tag is after a `:` that follows the last `/`.
  const at = remainder.indexOf('@');
  const beforeDigest = at === -1 ? remainder : remainder.slice(0, at);
  const digest = at === -1 ? undefined : remainder.slice(at + 1);
  const colon = beforeDigest.lastIndexOf(':');
  const hasTag = colon !== -1 && colon > beforeDigest.lastIndexOf('/');
  const path = hasTag ? beforeDigest.slice(0, colon) : beforeDigest;
  const tag = hasTag ? beforeDigest.slice(colon + 1) : undefined;

  if (path.toLowerCase() !== path) throw invalid(s, 'repository name must be lowercase');
  if (!anchoredDomain.test(domain)) throw invalid(s, `invalid reference format: invalid registry host "${domain}"`);
  if (!anchoredPath.test(path)) {
    throw invalid(
      s,
      path === '' || path.endsWith('/')
        ? 'invalid reference format: repository path is empty'
        : 'invalid reference format: a repository path is lowercase letters and digits, separated by "/", ".", "_", "__" or "-"',
    );
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(s, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (tag !== undefined && !anchoredTag.test(tag)) {
    throw invalid(s, `invalid tag "${tag}": up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"`);
  }
  if (digest !== undefined) {
    if (!anchoredDigestSyntax.test(digest)) throw invalid(s, `invalid digest "${digest}": invalid reference format`);
    try {
      parseDigest(digest);
    } catch (e) {
      throw invalid(s, e instanceof Error ? e.message : String(e));
    }
  }
  return makeName(domain, path, tag, digest);
}

function makeName(domain: string, path: string, tag?: string, digest?: string): DockerName {
  const n: { domain: string; path: string; tag?: string; digest?: string } = { domain, path };
  if (tag !== undefined) n.tag = tag;
  if (digest !== undefined) n.digest = digest;
  return Object.freeze(n);
}

/** The name with tag `latest` added when it has neither tag nor digest (distribution's `TagNameOnly`). */
export function withDefaultTag(n: DockerName): DockerName {
  if (n.tag !== undefined || n.digest !== undefined) return n;
  return makeName(n.domain, n.path, DEFAULT_TAG);
}

/** `domain/path`, e.g. `docker.io/library/busybox`. */
export function repositoryString(n: DockerName): string {
  return `${n.domain}/${n.path}`;
}

/** `domain/path[:tag][@digest]`, e.g. `docker.io/library/busybox:latest`. */
export function fullString(n: DockerName): string {
  return repositoryString(n) + (n.tag !== undefined ? `:${n.tag}` : '') + (n.digest !== undefined ? `@${n.digest}` : '');
}

/**
 * The short form the Docker CLI shows: `docker.io/` is dropped, and so is `library/` for official images
 * (`docker.io/library/busybox:1` → `busybox:1`, `docker.io/user/app` → `user/app`).
 */
export function familiarString(n: DockerName): string {
  let path = n.path;
  let prefix = `${n.domain}/`;
  if (n.domain === DEFAULT_DOMAIN) {
    prefix = '';
    const parts = path.split('/');
    if (parts.length === 2 && `${parts[0]}/` === OFFICIAL_REPO_PREFIX) path = parts[1]!;
  }
  return prefix + path + (n.tag !== undefined ? `:${n.tag}` : '') + (n.digest !== undefined ? `@${n.digest}` : '');
}
