/**
 * The `containers-storage` transport (containers-transports(5)):
 * `containers-storage:[[driver@]graphroot[+runroot][:options]]{image-id|docker-reference[@image-id]}`.
 */
import { FerryError, ErrorCode } from '../../errors.js';
import type { Transport } from '../../types/reference.js';
import { fullString, parseNormalizedName, withDefaultTag } from '../../reference/name.js';
import { isDigest } from '../../util/digest.js';
import { StorageReference, type StoreSpec } from './reference.js';

const ID = /^[0-9a-f]{64}$/;

function invalid(rest: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidReference, `invalid reference "containers-storage:${rest}": ${why}`);
}

/** Parses `[driver@graphroot+runroot:options]`'s inside. */
function parseStoreSpec(rest: string, inside: string): StoreSpec {
  const spec: StoreSpec = {};
  let s = inside;
  const at = s.indexOf('@');
  if (at !== -1 && !s.slice(0, at).includes('/')) {
    spec.driver = s.slice(0, at);
    s = s.slice(at + 1);
  }
  const colon = s.indexOf(':');
  if (colon !== -1) {
    spec.options = s.slice(colon + 1).split(',').filter(Boolean);
    s = s.slice(0, colon);
  }
  const plus = s.indexOf('+');
  if (plus !== -1) {
    spec.runRoot = s.slice(plus + 1);
    s = s.slice(0, plus);
  }
  if (s !== '') spec.graphRoot = s;
  if (spec.graphRoot !== undefined && !spec.graphRoot.startsWith('/')) throw invalid(rest, `the graph root "${spec.graphRoot}" is not an absolute path`);
  if (spec.runRoot !== undefined && !spec.runRoot.startsWith('/')) throw invalid(rest, `the run root "${spec.runRoot}" is not an absolute path`);
  return spec;
}

/**
 * Parses what follows `containers-storage:`.
 * @throws FerryError(E_INVALID_REFERENCE)
 */
export function parseStorageReference(rest: string): StorageReference {
  let spec: StoreSpec = {};
  let image = rest;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) throw invalid(rest, 'missing "]" after the store specification');
    spec = parseStoreSpec(rest, rest.slice(1, close));
    image = rest.slice(close + 1);
  }
  if (image === '') return new StorageReference(spec, undefined, undefined);
  if (ID.test(image)) return new StorageReference(spec, undefined, image);
  let id: string | undefined;
  const at = image.lastIndexOf('@');
  if (at !== -1 && ID.test(image.slice(at + 1))) {
    id = image.slice(at + 1);
    image = image.slice(0, at);
  }
  if (image.startsWith('sha256:') && ID.test(image.slice(7)) && id === undefined) return new StorageReference(spec, undefined, image.slice(7));
  // A short hex string may be an image ID prefix: kept as written and resolved against the store.
  if (/^[0-9a-f]{3,63}$/.test(image) && id === undefined) return new StorageReference(spec, undefined, undefined, image);
  let name;
  try {
    name = withDefaultTag(parseNormalizedName(image));
  } catch (e) {
    throw invalid(rest, e instanceof Error ? e.message : String(e));
  }
  return new StorageReference(spec, fullString(name), id);
}

/** The `containers-storage` transport (a local containers/storage store, shared with podman and skopeo). */
export const containersStorageTransport: Transport = Object.freeze({
  name: 'containers-storage',
  parseReference: parseStorageReference,
  validatePolicyScope: validateStoragePolicyScope,
});

/**
 * A containers-storage scope, as containers/image checks it: `[driver@/graphroot]` or `[/graphroot]`, optionally
 * followed by a name, `name@ID`, `name@digest` or `name@digest@ID`.
 * @throws FerryError(E_CONFIG)
 */
export function validateStoragePolicyScope(scope: string): void {
  const bad = (why: string) => new FerryError(ErrorCode.Config, `invalid containers-storage scope ${JSON.stringify(scope)}: ${why}`);
  if (!scope.startsWith('[')) throw bad('must start with "[driver@/graph/root]" or "[/graph/root]"');
  const close = scope.indexOf(']');
  if (close < 1) throw bad('missing "]" after the store specification');
  const storeSpec = scope.slice(1, close);
  const rest = scope.slice(close + 1);
  const at = storeSpec.indexOf('@');
  const root = at === -1 ? storeSpec : storeSpec.slice(at + 1);
  if ((at !== -1 && (at === 0 || root === '')) || storeSpec === '') throw bad('invalid store specification');
  if (!root.startsWith('/')) throw bad(`the graph root ${JSON.stringify(root)} is not an absolute path`);
  if (rest === '') return;
  const fields = rest.split('@');
  const isDigestValue = (s: string) => isDigest(s);
  const isId = (s: string) => ID.test(s);
  if (fields.length === 2 && !isId(fields[1]!) && !isDigestValue(fields[1]!)) throw bad(`${JSON.stringify(fields[1])} is neither a digest nor an image ID`);
  if (fields.length >= 3) {
    if (!isDigestValue(fields[1]!)) throw bad(`${JSON.stringify(fields[1])} is not a digest`);
    if (!isId(fields.slice(2).join('@'))) throw bad(`${JSON.stringify(fields.slice(2).join('@'))} is not an image ID`);
  }
}
