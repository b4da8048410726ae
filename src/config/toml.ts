/**
 * TOML for the containers configuration files (registries.conf, storage.conf), parsed by the `smol-toml` package.
 * Errors name the file and line, as `file:line: what is wrong`.
 */
import { parse, TomlError } from 'smol-toml';
import { FerryError, ErrorCode } from '../errors.js';

/** A parsed TOML value. Dates and times are refused: no setting of these files takes one. */
export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
/** A parsed TOML table. */
export interface TomlTable {
  [key: string]: TomlValue;
}

/**
 * Parses TOML text.
 * @param file name used in error messages.
 * @throws FerryError(E_CONFIG) `file:line: what is wrong`.
 */
export function parseToml(text: string, file = '<toml>'): TomlTable {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    throw new FerryError(ErrorCode.Config, `${file}:${e.line}: ${tomlReason(e.message)}`, { cause: e });
  }
  refuseDates(doc, file, '');
  return doc as TomlTable;
}

/** The first line of smol-toml's message, without its `Invalid TOML document:` prefix and the code excerpt after it. */
function tomlReason(message: string): string {
  return (message.split('\n', 1)[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
}

function refuseDates(v: unknown, file: string, key: string): void {
  if (v instanceof Date) throw new FerryError(ErrorCode.Config, `${file}: ${key}: a date or time is not a valid value here`);
  if (Array.isArray(v)) v.forEach((x, i) => refuseDates(x, file, `${key}[${i}]`));
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) refuseDates(x, file, key ? `${key}.${k}` : k);
  }
}
