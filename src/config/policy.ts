/**
 * Reading policy.json (containers-policy.json(5)) as strictly as containers/image does: unknown or duplicate fields,
 * values of the wrong type, empty requirement lists, invalid scopes and invalid references reject the whole file,
 * with the JSON path of the problem. Keys are not read here: a requirement reads its keys when it is evaluated.
 */
import os from 'node:os';
import path from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { readNamedFile } from '../util/bounded-read.js';
import { JsonPathError, parseJsonNoDuplicates, type JsonPath } from './json-path.js';
import type {
  KeySource,
  ParseDockerReference,
  PKIRoot,
  Policy,
  PolicyRequirement,
  PolicyRequirements,
  ReferenceMatch,
  SignedByKeyType,
  SigstoreCertificateRoots,
  SingleSource,
} from './policy-types.js';

/** The system-wide policy file. */
export const SYSTEM_POLICY_PATH = '/etc/containers/policy.json';
/** The per-user policy file, under the home directory. */
export const USER_POLICY_PATH = '.config/containers/policy.json';

/** What parsing needs from its caller: the transports' scope rules and the docker-name parser. */
export interface PolicyParseOptions {
  /** The scope check of transport `name` (see `Transport.validatePolicyScope`), or undefined for a transport ferry does not know. */
  scopeValidator(name: string): ((scope: string) => void) | undefined;
  /** Parses docker references (`exactReference`, `exactRepository`). */
  parseDockerReference: ParseDockerReference;
}

type Obj = Record<string, unknown>;

const fail = (at: JsonPath, reason: string): never => {
  throw new JsonPathError(at, reason);
};

function object(v: unknown, at: JsonPath): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at, 'expected a JSON object');
  return v as Obj;
}

/** Checks that `o` has no fields but `allowed` and has every one of `required`. */
function fields(o: Obj, at: JsonPath, allowed: readonly string[], required: readonly string[] = []): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail([...at, k], `unknown field ${JSON.stringify(k)}`);
  for (const k of required) if (!Object.hasOwn(o, k)) fail(at, `missing field ${JSON.stringify(k)}`);
}

function string(o: Obj, key: string, at: JsonPath, opts: { nonEmpty?: boolean } = {}): string {
  const v = o[key];
  if (typeof v !== 'string') fail([...at, key], 'expected a string');
  if (opts.nonEmpty && v === '') fail([...at, key], 'must not be empty');
  return v as string;
}

function stringList(o: Obj, key: string, at: JsonPath): string[] {
  const v = o[key];
  if (!Array.isArray(v)) fail([...at, key], 'expected an array of strings');
  const list = v as unknown[];
  if (list.length === 0) fail([...at, key], 'must not be empty');
  return list.map((s, i) => {
    if (typeof s !== 'string' || s === '') fail([...at, key, i], 'expected a non-empty string');
    return s as string;
  });
}

/** Go's []byte in JSON: standard base64 with padding. */
function base64(v: unknown, at: JsonPath): Buffer {
  if (typeof v !== 'string') fail(at, 'expected a base64 string');
  const s = v as string;
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) fail(at, 'not valid base64');
  const data = Buffer.from(s, 'base64');
  if (data.length === 0) fail(at, 'must not be empty');
  return data;
}

function base64List(o: Obj, key: string, at: JsonPath): Buffer[] {
  const v = o[key];
  if (!Array.isArray(v)) fail([...at, key], 'expected an array of base64 strings');
  const list = v as unknown[];
  if (list.length === 0) fail([...at, key], 'must not be empty');
  return list.map((s, i) => base64(s, [...at, key, i]));
}

/** Exactly one of the key-source fields present (`names`: path, paths, data, datas spellings), or none if allowed. */
function keySource(o: Obj, at: JsonPath, names: { path: string; paths: string; data: string; datas?: string }): KeySource | undefined {
  const present = Object.values(names).filter((n) => Object.hasOwn(o, n));
  if (present.length > 1) fail(at, `only one of ${Object.values(names).join(', ')} may be given, found ${present.join(' and ')}`);
  if (present.length === 0) return undefined;
  const name = present[0]!;
  if (name === names.path) return { path: string(o, name, at, { nonEmpty: true }) };
  if (name === names.paths) return { paths: stringList(o, name, at) };
  if (name === names.data) return { data: base64(o[name], [...at, name]) };
  return { datas: base64List(o, name, at) };
}

/** containers/image's prefix grammar for `remapIdentity`: a host (with port) alone, or a repository name starting with a host. */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_ONLY = new RegExp(`^${DOMAIN}$`);
const DOMAIN_THEN_PATH = new RegExp(`^${DOMAIN}/${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);

function validPrefix(o: Obj, key: string, at: JsonPath): string {
  const s = string(o, key, at);
  if (!DOMAIN_ONLY.test(s) && !DOMAIN_THEN_PATH.test(s)) fail([...at, key], `prefix ${JSON.stringify(s)} is not a host or a repository name starting with a host`);
  return s;
}

function referenceMatch(v: unknown, at: JsonPath, opts: PolicyParseOptions): ReferenceMatch {
  const o = object(v, at);
  const type = string(o, 'type', at);
  const parse = (key: string) => {
    const s = string(o, key, at);
    try {
      return opts.parseDockerReference(s);
    } catch (e) {
      return fail([...at, key], `invalid ${key} ${JSON.stringify(s)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  switch (type) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      fields(o, at, ['type']);
      return { type };
    case 'exactReference': {
      fields(o, at, ['type', 'dockerReference'], ['dockerReference']);
      const r = parse('dockerReference');
      if (r.tag === undefined && r.digest === undefined) fail([...at, 'dockerReference'], `${JSON.stringify(o['dockerReference'])} has neither a tag nor a digest`);
      return { type, dockerReference: o['dockerReference'] as string };
    }
    case 'exactRepository':
      fields(o, at, ['type', 'dockerRepository'], ['dockerRepository']);
      parse('dockerRepository');
      return { type, dockerRepository: o['dockerRepository'] as string };
    case 'remapIdentity':
      fields(o, at, ['type', 'prefix', 'signedPrefix'], ['prefix', 'signedPrefix']);
      return { type, prefix: validPrefix(o, 'prefix', at), signedPrefix: validPrefix(o, 'signedPrefix', at) };
    default:
      return fail([...at, 'type'], `unknown signedIdentity type ${JSON.stringify(type)}`);
  }
}

const KEY_TYPES: readonly SignedByKeyType[] = ['GPGKeys', 'signedByGPGKeys', 'X509Certificates', 'signedByX509CAs'];

function signedIdentity(o: Obj, at: JsonPath, opts: PolicyParseOptions): ReferenceMatch {
  return Object.hasOwn(o, 'signedIdentity') ? referenceMatch(o['signedIdentity'], [...at, 'signedIdentity'], opts) : { type: 'matchRepoDigestOrExact' };
}

function singleSource(o: Obj, at: JsonPath, pathKey: string, dataKey: string): SingleSource | undefined {
  if (Object.hasOwn(o, pathKey)) return { path: string(o, pathKey, at, { nonEmpty: true }) };
  if (Object.hasOwn(o, dataKey)) return { data: base64(o[dataKey], [...at, dataKey]) };
  return undefined;
}

function sigstoreRoots(o: Obj, at: JsonPath): SigstoreCertificateRoots {
  const roots: SigstoreCertificateRoots = {};
  if (Object.hasOwn(o, 'fulcio')) {
    const where = [...at, 'fulcio'];
    const f = object(o['fulcio'], where);
    fields(f, where, ['caPath', 'caData', 'oidcIssuer', 'subjectEmail'], ['oidcIssuer', 'subjectEmail']);
    if (Object.hasOwn(f, 'caPath') === Object.hasOwn(f, 'caData')) fail(where, 'exactly one of caPath and caData must be given');
    roots.fulcio = {
      ca: singleSource(f, where, 'caPath', 'caData')!,
      oidcIssuer: string(f, 'oidcIssuer', where, { nonEmpty: true }),
      subjectEmail: string(f, 'subjectEmail', where, { nonEmpty: true }),
    };
  }
  if (Object.hasOwn(o, 'pki')) {
    const where = [...at, 'pki'];
    const p = object(o['pki'], where);
    fields(p, where, ['caRootsPath', 'caRootsData', 'caIntermediatesPath', 'caIntermediatesData', 'subjectEmail', 'subjectHostname']);
    if (Object.hasOwn(p, 'caRootsPath') === Object.hasOwn(p, 'caRootsData')) fail(where, 'exactly one of caRootsPath and caRootsData must be given');
    if (Object.hasOwn(p, 'caIntermediatesPath') && Object.hasOwn(p, 'caIntermediatesData')) fail(where, 'only one of caIntermediatesPath and caIntermediatesData may be given');
    if (!Object.hasOwn(p, 'subjectEmail') && !Object.hasOwn(p, 'subjectHostname')) fail(where, 'at least one of subjectEmail and subjectHostname must be given');
    const pki: PKIRoot = { caRoots: singleSource(p, where, 'caRootsPath', 'caRootsData')! };
    const intermediates = singleSource(p, where, 'caIntermediatesPath', 'caIntermediatesData');
    if (intermediates !== undefined) pki.caIntermediates = intermediates;
    if (Object.hasOwn(p, 'subjectEmail')) pki.subjectEmail = string(p, 'subjectEmail', where, { nonEmpty: true });
    if (Object.hasOwn(p, 'subjectHostname')) pki.subjectHostname = string(p, 'subjectHostname', where, { nonEmpty: true });
    roots.pki = pki;
  }
  const rekor = keySource(o, at, { path: 'rekorPublicKeyPath', paths: 'rekorPublicKeyPaths', data: 'rekorPublicKeyData', datas: 'rekorPublicKeyDatas' });
  if (rekor !== undefined) roots.rekor = rekor;
  return roots;
}

function requirement(v: unknown, at: JsonPath, opts: PolicyParseOptions): PolicyRequirement {
  const o = object(v, at);
  const type = string(o, 'type', at);
  switch (type) {
    case 'insecureAcceptAnything':
    case 'reject':
      fields(o, at, ['type']);
      return { type };
    case 'signedBy': {
      fields(o, at, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity'], ['keyType']);
      const keyType = string(o, 'keyType', at) as SignedByKeyType;
      if (!KEY_TYPES.includes(keyType)) fail([...at, 'keyType'], `unknown keyType ${JSON.stringify(keyType)} (expected one of ${KEY_TYPES.join(', ')})`);
      const keys = keySource(o, at, { path: 'keyPath', paths: 'keyPaths', data: 'keyData' }) ?? fail(at, 'exactly one of keyPath, keyPaths and keyData must be given, none is');
      return { type, keyType, keys, signedIdentity: signedIdentity(o, at, opts) };
    }
    case 'signedBaseLayer':
      fields(o, at, ['type', 'baseLayerIdentity'], ['baseLayerIdentity']);
      return { type, baseLayerIdentity: referenceMatch(o['baseLayerIdentity'], [...at, 'baseLayerIdentity'], opts) };
    case 'sigstoreSigned': {
      const keyNames = ['keyPath', 'keyPaths', 'keyData', 'keyDatas'];
      const rekorNames = ['rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'];
      fields(o, at, ['type', ...keyNames, 'fulcio', 'pki', ...rekorNames, 'signedIdentity']);
      const sources = [...keyNames, 'fulcio', 'pki'].filter((k) => Object.hasOwn(o, k));
      if (sources.length !== 1) {
        fail(at, `exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio and pki must be given, ${sources.length === 0 ? 'none is' : `found ${sources.join(' and ')}`}`);
      }
      const keys = keySource(o, at, { path: 'keyPath', paths: 'keyPaths', data: 'keyData', datas: 'keyDatas' });
      const roots = sigstoreRoots(o, at);
      if (roots.fulcio !== undefined && roots.rekor === undefined) fail(at, 'fulcio needs one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and rekorPublicKeyDatas');
      if (roots.pki !== undefined && roots.rekor !== undefined) fail(at, 'rekorPublicKey* cannot be used with pki');
      const r: PolicyRequirement = { type, roots, signedIdentity: signedIdentity(o, at, opts) };
      if (keys !== undefined) r.keys = keys;
      return r;
    }
    default:
      return fail([...at, 'type'], `unknown policy requirement type ${JSON.stringify(type)}`);
  }
}

function requirements(v: unknown, at: JsonPath, opts: PolicyParseOptions): PolicyRequirements {
  if (!Array.isArray(v)) fail(at, 'expected an array of policy requirements');
  const list = v as unknown[];
  if (list.length === 0) fail(at, 'the list of policy requirements must not be empty');
  return list.map((r, i) => requirement(r, [...at, i], opts));
}

/**
 * Parses policy.json contents.
 * @throws JsonPathError naming the JSON path of the first problem.
 */
export function parsePolicyDocument(text: string, opts: PolicyParseOptions): Policy {
  const top = object(parseJsonNoDuplicates(text), []);
  fields(top, [], ['default', 'transports'], ['default']);
  const def = requirements(top['default'], ['default'], opts);
  const transports = new Map<string, Map<string, PolicyRequirements>>();
  if (Object.hasOwn(top, 'transports')) {
    const t = object(top['transports'], ['transports']);
    for (const [name, scopesValue] of Object.entries(t)) {
      const at = ['transports', name];
      const scopes = object(scopesValue, at);
      const validate = opts.scopeValidator(name);
      const parsed = new Map<string, PolicyRequirements>();
      for (const [scope, reqs] of Object.entries(scopes)) {
        if (scope !== '' && validate !== undefined) {
          try {
            validate(scope);
          } catch (e) {
            fail([...at, scope], e instanceof Error ? e.message : String(e));
          }
        }
        parsed.set(scope, requirements(reqs, [...at, scope], opts));
      }
      transports.set(name, parsed);
    }
  }
  return { default: def, transports };
}

/**
 * Parses policy.json contents read from `source` (named in errors).
 * @throws FerryError(E_CONFIG) `invalid policy in "FILE": $.path: reason`.
 */
export function parsePolicy(text: string, source: string, opts: PolicyParseOptions): Policy {
  try {
    return parsePolicyDocument(text, opts);
  } catch (e) {
    if (e instanceof JsonPathError) throw new FerryError(ErrorCode.Config, `invalid policy in ${JSON.stringify(source)}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Options of {@link loadPolicy}. */
export interface LoadPolicyOptions extends PolicyParseOptions {
  /** `--policy PATH`: read this file, nothing else. */
  path?: string;
  /** The home directory (default `os.homedir()`). */
  homeDir?: string;
  /** The system-wide file (default `/etc/containers/policy.json`; tests). */
  systemPath?: string;
  signal?: AbortSignal;
}

/**
 * The policy file to read: `path` if given, else `~/.config/containers/policy.json` if it exists, else
 * `/etc/containers/policy.json` if it exists.
 * @throws FerryError(E_CONFIG) when none of them exists.
 */
export async function policyPath(opts: { path?: string; homeDir?: string; systemPath?: string }): Promise<string> {
  if (opts.path !== undefined && opts.path !== '') return opts.path;
  const { access } = await import('node:fs/promises');
  const user = path.join(opts.homeDir ?? os.homedir(), USER_POLICY_PATH);
  const system = opts.systemPath ?? SYSTEM_POLICY_PATH;
  for (const candidate of [user, system]) {
    try {
      await access(candidate);
      return candidate;
    } catch {
      // next
    }
  }
  throw new FerryError(
    ErrorCode.Config,
    `no policy.json file found at any of the following: ${JSON.stringify(user)}, ${JSON.stringify(system)} (give one with --policy, or accept any image with --insecure-policy)`,
  );
}

/**
 * Finds and reads the trust policy (at most 4 MiB), as skopeo does.
 * @throws FerryError(E_CONFIG) when no policy file exists or it is invalid; E_NOT_FOUND / E_IO when it cannot be read.
 */
export async function loadPolicy(opts: LoadPolicyOptions): Promise<{ policy: Policy; path: string }> {
  const file = await policyPath(opts);
  const bytes = await readNamedFile(file, 'policy file', { signal: opts.signal, regularFile: true });
  return { policy: parsePolicy(bytes.toString('utf8'), file, opts), path: file };
}
