/**
 * The legacy (pre-`manifest.json`) metadata of a `docker save` archive, written the way
 * containers/image's `docker/internal/tarfile` writer does (`writeLegacyMetadataLocked`), so that
 * archives written by ferry and by skopeo are identical for the same image:
 *
 * - one directory per layer, named by a layer ID, holding `VERSION` (`1.0`), `json` (a v1 layer config,
 *   with `parent`; the top layer also gets a few fields of the image config) and `layer.tar`, a symlink
 *   to `../<diffID hex>.tar`;
 * - `repositories`: `{"<repo>": {"<tag>": "<top layer ID>"}}`.
 *
 * Layer IDs are sha256 of the Go-marshalled layer config plus its chain ID (so they are unique per
 * layer stack), not Docker's own IDs; `docker load` allocates its own anyway.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import { compareUtf8, quoteGo } from '../../manifest/go-json.js';
import { digestOf, parseDigest } from '../../util/digest.js';

/** Image-config fields copied into the top layer's legacy config, in containers/image's list. */
const TOP_LAYER_FIELDS = ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os'] as const;

/** One legacy layer directory. */
export interface LegacyLayer {
  /** The layer ID (64 hex), the directory name. */
  id: string;
  /** Content of `<id>/json`. */
  json: Buffer;
  /** Target of `<id>/layer.tar`: `../<hex>.tar`. */
  linkTarget: string;
}

function skipWs(s: string, i: number): number {
  while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
  return i;
}

/** End (exclusive) of the string literal starting at `i` (a `"`). */
function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '\\') j++;
    else if (s[j] === '"') return j + 1;
  }
  throw new Error('unterminated string');
}

/** End (exclusive) of the JSON value starting at `i`. */
function valueEnd(s: string, i: number): number {
  const c = s[i];
  if (c === '"') return stringEnd(s, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s[j];
      if (d === '"') j = stringEnd(s, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new Error('unterminated value');
  }
  let j = i;
  while (j < s.length && !/[\s,}\]]/.test(s[j]!)) j++;
  if (j === i) throw new Error('missing value');
  return j;
}

/** Go's `json.Compact` with HTML escaping, as `json.Marshal` applies to a `json.RawMessage`. */
export function compactRaw(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') {
      const end = stringEnd(raw, i);
      out += raw.slice(i, end).replace(/[<>&\u2028\u2029]/g, (m) => `\\u${m.charCodeAt(0).toString(16).padStart(4, '0')}`);
      i = end - 1;
    } else if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') {
      out += c;
    }
  }
  return out;
}

/**
 * The top-level members of a JSON object as raw (compacted) JSON texts, like Go's
 * `json.Unmarshal(b, &map[string]*json.RawMessage{})` (a later duplicate key wins).
 * @throws FerryError(E_INVALID_MANIFEST) if `bytes` is not a JSON object.
 */
export function rawMembers(bytes: Buffer): Map<string, string> {
  const text = bytes.toString('utf8');
  try {
    JSON.parse(text); // validates; the scanner below may then assume well-formed input
    const out = new Map<string, string>();
    let i = skipWs(text, 0);
    if (text[i] !== '{') throw new Error('not an object');
    i = skipWs(text, i + 1);
    if (text[i] === '}') return out;
    for (;;) {
      const kEnd = stringEnd(text, i);
      const key = JSON.parse(text.slice(i, kEnd)) as string;
      i = skipWs(text, kEnd);
      i = skipWs(text, i + 1); // ':'
      const vEnd = valueEnd(text, i);
      out.set(key, compactRaw(text.slice(i, vEnd)));
      i = skipWs(text, vEnd);
      if (text[i] === '}') return out;
      i = skipWs(text, i + 1); // ','
    }
  } catch (e) {
    throw new FerryError(ErrorCode.InvalidManifest, `image config is not a JSON object: ${(e as Error).message}`, { cause: e });
  }
}

/** `json.Marshal(map[string]any)` of already-encoded values: keys sorted by UTF-8 bytes. */
export function marshalMap(m: Map<string, string>): string {
  const keys = [...m.keys()].sort(compareUtf8);
  return `{${keys.map((k) => `${quoteGo(k)}:${m.get(k)!}`).join(',')}}`;
}

/**
 * The legacy layer directories for an image with these layer digests (base first) and config.
 * @throws FerryError(E_INVALID_MANIFEST) for a config that is not a JSON object; E_INVALID_REFERENCE for a bad digest.
 */
export function legacyLayers(layerDigests: string[], config: Buffer): LegacyLayer[] {
  const out: LegacyLayer[] = [];
  let chainId = '';
  let lastId = '';
  layerDigests.forEach((digest, i) => {
    const hex = parseDigest(digest).hex;
    const layerConfig = new Map<string, string>();
    if (lastId !== '') layerConfig.set('parent', quoteGo(lastId));
    if (i === layerDigests.length - 1) {
      const members = rawMembers(config);
      for (const f of TOP_LAYER_FIELDS) layerConfig.set(f, members.get(f) ?? 'null');
    }
    chainId = chainId === '' ? digest : digestOf(`${chainId} ${digest}`);
    layerConfig.set('layer_id', quoteGo(chainId));
    const id = parseDigest(digestOf(marshalMap(layerConfig))).hex;
    layerConfig.delete('layer_id');
    layerConfig.set('id', quoteGo(id));
    out.push({ id, json: Buffer.from(marshalMap(layerConfig)), linkTarget: `../${hex}.tar` });
    lastId = id;
  });
  return out;
}

/** The `repositories` file: `{"<repo>":{"<tag>":"<top layer id>"}}` for each tag (none without layers). */
export function repositoriesJson(tags: { repository: string; tag: string }[], topLayerId: string | undefined): Buffer {
  const repos = new Map<string, Map<string, string>>();
  if (topLayerId !== undefined) {
    for (const t of tags) {
      const m = repos.get(t.repository) ?? new Map<string, string>();
      m.set(t.tag, quoteGo(topLayerId));
      repos.set(t.repository, m);
    }
  }
  const inner = new Map([...repos].map(([k, v]) => [k, marshalMap(v)] as const));
  return Buffer.from(marshalMap(inner));
}
