/**
 * Hand-written to accept and reject JSON exactly as Go's encoding/json does.
 *
 * Reading JSON objects into typed values the way Go's `json.Unmarshal` fills a struct: a key matches a
 * field by exact name or case-insensitively (the last matching key wins), `null` leaves the zero value,
 * and a value of the wrong type is an error.
 */
import { FerryError, ErrorCode } from '../errors.js';

/** A decoded JSON object. */
export type JsonObject = Record<string, unknown>;

/** Raises E_INVALID_MANIFEST for `what` (e.g. `image config`). */
export function invalid(what: string, msg: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `invalid ${what}: ${msg}`);
}

/** Parses bytes as a JSON object. @throws FerryError(E_INVALID_MANIFEST) */
export function parseJsonObject(bytes: Buffer | string, what: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (e) {
    throw invalid(what, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) throw invalid(what, 'not a JSON object');
  return v;
}

/** Whether `v` is a plain JSON object (not an array, not null). */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value for Go field `name` in `obj` (exact or case-insensitive key, last wins), or undefined. */
export function field(obj: JsonObject, name: string): unknown {
  const lower = name.toLowerCase();
  let found: unknown;
  for (const k of Object.keys(obj)) if (k === name || k.toLowerCase() === lower) found = obj[k];
  return found;
}

/** A string field; `''` when absent or null. */
export function str(obj: JsonObject, name: string, what: string): string {
  const v = field(obj, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid(what, `field "${name}" must be a string`);
  return v;
}

/** A boolean field; false when absent or null. */
export function bool(obj: JsonObject, name: string, what: string): boolean {
  const v = field(obj, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(what, `field "${name}" must be a boolean`);
  return v;
}

/** An integer field; undefined when absent or null. */
export function int(obj: JsonObject, name: string, what: string): number | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(what, `field "${name}" must be an integer`);
  return v;
}

/** A `[]string` field; null when absent or null (Go's nil slice). */
export function strings(obj: JsonObject, name: string, what: string): string[] | null {
  const v = field(obj, name);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.some((e) => typeof e !== 'string')) throw invalid(what, `field "${name}" must be an array of strings`);
  return v as string[];
}

/** A `map[string]string` field as a Map; null when absent or null (Go's nil map). */
export function stringMap(obj: JsonObject, name: string, what: string): Map<string, string> | null {
  const v = field(obj, name);
  if (v === undefined || v === null) return null;
  if (!isObject(v) || Object.values(v).some((e) => typeof e !== 'string' && e !== null)) {
    throw invalid(what, `field "${name}" must be an object of strings`);
  }
  return new Map(Object.entries(v).map(([k, e]) => [k, (e ?? '') as string]));
}

/** A `map[string]struct{}` field as a Map of empty objects; null when absent or null. */
export function setMap(obj: JsonObject, name: string, what: string): Map<string, Record<string, never>> | null {
  const v = field(obj, name);
  if (v === undefined || v === null) return null;
  if (!isObject(v) || Object.values(v).some((e) => e !== null && !isObject(e))) {
    throw invalid(what, `field "${name}" must be an object of objects`);
  }
  return new Map(Object.keys(v).map((k) => [k, {}]));
}

/** A nested object field; undefined when absent or null. */
export function obj(o: JsonObject, name: string, what: string): JsonObject | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(what, `field "${name}" must be an object`);
  return v;
}

/** An array-of-objects field; null when absent or null. */
export function objects(o: JsonObject, name: string, what: string): JsonObject[] | null {
  const v = field(o, name);
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.some((e) => !isObject(e))) throw invalid(what, `field "${name}" must be an array of objects`);
  return v as JsonObject[];
}
