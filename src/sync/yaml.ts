/**
 * A small YAML reader for the subset `skopeo sync --src yaml` files use: block mappings, block sequences
 * (also at the indentation of their key), single-line flow sequences (`[a, "b"]`), the empty flow mapping
 * `{}`, plain / single-quoted / double-quoted scalars, comments and a leading `---`.
 *
 * Everything else YAML has (block scalars `|` `>`, anchors and aliases, tags, multi-line plain or flow
 * values, mappings inside sequences, several documents) is refused with an E_CONFIG error naming the file
 * and line, never silently misread. Scalars stay text (`1.10` is the tag "1.10", as skopeo's YAML decoder
 * gives a string field); the caller interprets booleans.
 *
 * Why not js-yaml: it is only a transitive dev dependency here, ferry ships one bundle per command, and the
 * project already reads its other configuration formats (TOML) with small parsers of the same style.
 */
import { FerryError, ErrorCode } from '../errors.js';

/** A parsed node, with the 1-based line it starts on (for error messages). */
export type YamlNode = YamlMap | YamlSeq | YamlScalar | YamlNull;

/** A mapping, keys in file order. */
export interface YamlMap {
  kind: 'map';
  line: number;
  entries: Map<string, { line: number; value: YamlNode }>;
}

/** A sequence. */
export interface YamlSeq {
  kind: 'seq';
  line: number;
  items: YamlNode[];
}

/** A scalar as text; `quoted` when it was written in quotes (then never a boolean or null). */
export interface YamlScalar {
  kind: 'scalar';
  line: number;
  value: string;
  quoted: boolean;
}

/** An empty value (`key:` with nothing under it, `~`, `null`). */
export interface YamlNull {
  kind: 'null';
  line: number;
}

interface Line {
  no: number;
  indent: number;
  /** Content after the indentation, trailing spaces removed (comments are removed by the scalar readers). */
  text: string;
}

/**
 * Parses `text` into a node tree.
 * @param file name used in error messages.
 * @throws FerryError(E_CONFIG) `file:line: what is wrong`.
 */
export function parseYaml(text: string, file = '<yaml>'): YamlNode {
  return new Parser(splitLines(text, file), file).parseDocument();
}

function splitLines(text: string, file: string): Line[] {
  const out: Line[] = [];
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  raw.forEach((l, i) => {
    const no = i + 1;
    const m = /^([ \t]*)(.*?)\s*$/.exec(l)!;
    const body = m[2]!;
    if (body === '' || body.startsWith('#')) return;
    if (m[1]!.includes('\t')) throw configError(file, no, 'tabs are not allowed for indentation');
    out.push({ no, indent: m[1]!.length, text: body });
  });
  return out;
}

function configError(file: string, line: number, msg: string): FerryError {
  return new FerryError(ErrorCode.Config, `${file}:${line}: ${msg}`);
}

/** A `- ` sequence entry marker (or a lone `-`). */
const isSeqItem = (t: string) => t === '-' || t.startsWith('- ');

class Parser {
  private i = 0;

  constructor(
    private readonly lines: Line[],
    private readonly file: string,
  ) {}

  private fail(line: number, msg: string): never {
    throw configError(this.file, line, msg);
  }

  private peek(): Line | undefined {
    return this.lines[this.i];
  }

  parseDocument(): YamlNode {
    const first = this.peek();
    if (first && first.indent === 0 && (first.text === '---' || first.text.startsWith('--- '))) {
      if (first.text !== '---' && !first.text.slice(4).trimStart().startsWith('#')) this.fail(first.no, 'content after "---" is not supported');
      this.i++;
    }
    const start = this.peek();
    if (!start) return { kind: 'null', line: 1 };
    if (start.indent !== 0) this.fail(start.no, 'the document must start at column 1');
    const node = this.parseBlock(0);
    const rest = this.peek();
    if (rest) {
      if (rest.text === '---' || rest.text === '...') this.fail(rest.no, 'only one YAML document is supported');
      this.fail(rest.no, rest.indent > 0 ? 'unexpected indentation' : 'unexpected content');
    }
    return node;
  }

  /** A block node whose lines are indented exactly `indent`. */
  private parseBlock(indent: number): YamlNode {
    const l = this.peek()!;
    if (isSeqItem(l.text)) return this.parseSeq(indent);
    if (this.findKeyColon(l.text) === undefined) {
      // a lone scalar as a whole block (`key:` and its value on the next line; a document that is one word)
      const next = this.lines[this.i + 1];
      if (next && next.indent >= indent) this.fail(l.no, `expected "key: value", got "${clip(l.text)}"`);
      this.i++;
      return this.parseInlineValue(l.text, l.no);
    }
    return this.parseMap(indent);
  }

  private parseSeq(indent: number): YamlSeq {
    const seq: YamlSeq = { kind: 'seq', line: this.peek()!.no, items: [] };
    for (let l = this.peek(); l && l.indent === indent && isSeqItem(l.text); l = this.peek()) {
      this.i++;
      const rest = l.text.slice(1).trimStart();
      if (rest === '' || rest.startsWith('#')) {
        const next = this.peek();
        if (next && next.indent > indent) seq.items.push(this.parseBlock(next.indent));
        else seq.items.push({ kind: 'null', line: l.no });
        continue;
      }
      if (isSeqItem(rest) || (this.findKeyColon(rest) !== undefined && !/^["'[{]/.test(rest))) {
        this.fail(l.no, 'mappings or lists inside a list are not supported here; write one value per "- " line');
      }
      seq.items.push(this.parseInlineValue(rest, l.no));
    }
    const after = this.peek();
    if (after && after.indent > indent) this.fail(after.no, 'unexpected indentation');
    return seq;
  }

  private parseMap(indent: number): YamlMap {
    const map: YamlMap = { kind: 'map', line: this.peek()!.no, entries: new Map() };
    for (let l = this.peek(); l && l.indent === indent; l = this.peek()) {
      if (indent === 0 && (l.text === '---' || l.text === '...')) break;
      if (isSeqItem(l.text)) this.fail(l.no, 'a list item where a "key: value" line was expected');
      const { key, rest } = this.splitKey(l);
      if (map.entries.has(key)) this.fail(l.no, `key "${key}" is already defined on line ${map.entries.get(key)!.line}`);
      this.i++;
      let value: YamlNode;
      if (rest === '' || rest.startsWith('#')) {
        const next = this.peek();
        if (next && next.indent > indent) value = this.parseBlock(next.indent);
        else if (next && next.indent === indent && isSeqItem(next.text)) value = this.parseSeq(indent);
        else value = { kind: 'null', line: l.no };
      } else {
        value = this.parseInlineValue(rest, l.no);
        const next = this.peek();
        if (next && next.indent > indent) {
          this.fail(next.no, `unexpected indentation (the value of "${key}" is already given on line ${l.no}; multi-line values are not supported)`);
        }
      }
      map.entries.set(key, { line: l.no, value });
    }
    const after = this.peek();
    if (after && after.indent > indent) this.fail(after.no, 'unexpected indentation');
    return map;
  }

  /** Index of the `:` ending a plain key (followed by a space or the end of the line), or undefined. */
  private findKeyColon(text: string): number | undefined {
    if (text.startsWith('"') || text.startsWith("'")) {
      const end = this.quotedEnd(text);
      if (end === undefined) return undefined;
      const after = text.slice(end).trimStart();
      return after.startsWith(':') && (after.length === 1 || /\s/.test(after[1]!)) ? text.length - after.length : undefined;
    }
    const m = /:(?=\s|$)/.exec(text);
    if (!m) return undefined;
    const hash = /(^|\s)#/.exec(text);
    if (hash && hash.index < m.index) return undefined;
    return m.index;
  }

  private splitKey(l: Line): { key: string; rest: string } {
    const colon = this.findKeyColon(l.text);
    if (colon === undefined) this.fail(l.no, `expected "key: value", got "${clip(l.text)}"`);
    const rawKey = l.text.slice(0, colon).trimEnd();
    const rest = l.text.slice(colon + 1).trim();
    if (rawKey === '') this.fail(l.no, 'empty key');
    let key: string;
    if (rawKey.startsWith('"') || rawKey.startsWith("'")) {
      const k = this.parseQuoted(rawKey, l.no);
      if (k.rest !== '') this.fail(l.no, `unexpected text after the quoted key: "${clip(k.rest)}"`);
      key = k.value;
    } else {
      this.checkPlainStart(rawKey, l.no);
      key = rawKey;
    }
    return { key, rest };
  }

  private checkPlainStart(text: string, line: number): void {
    const c = text[0]!;
    if (c === '&' || c === '*') this.fail(line, 'anchors and aliases are not supported');
    if (c === '!') this.fail(line, 'tags ("!") are not supported');
    if (c === '|' || c === '>') this.fail(line, 'block scalars ("|", ">") are not supported; write the value on one line, quoted if needed');
    if (c === '@' || c === '`') this.fail(line, `a plain value cannot start with "${c}"; quote it`);
    if (c === '{' || c === '}' || c === '[' || c === ']' || c === ',') this.fail(line, `unexpected "${c}"`);
    if (c === '%') this.fail(line, 'directives ("%") are not supported');
  }

  /** A value written on the line of its key or list marker: quoted, flow sequence, `{}` or plain. */
  private parseInlineValue(text: string, line: number): YamlNode {
    if (text.startsWith('"') || text.startsWith("'")) {
      const q = this.parseQuoted(text, line);
      this.expectEnd(q.rest, line);
      return { kind: 'scalar', line, value: q.value, quoted: true };
    }
    if (text.startsWith('[')) return this.parseFlowSeq(text, line);
    if (text.startsWith('{')) {
      const m = /^\{\s*\}(.*)$/.exec(text);
      if (!m) this.fail(line, 'flow mappings ("{...}") are not supported, except the empty "{}"');
      this.expectEnd(m[1]!, line);
      return { kind: 'map', line, entries: new Map() };
    }
    this.checkPlainStart(text, line);
    const value = stripComment(text);
    if (/:(\s|$)/.test(value)) this.fail(line, `unexpected ": " in the value "${clip(value)}"; quote the value`);
    if (value === '~' || value === 'null' || value === 'Null' || value === 'NULL') return { kind: 'null', line };
    return { kind: 'scalar', line, value, quoted: false };
  }

  private parseFlowSeq(text: string, line: number): YamlSeq {
    const seq: YamlSeq = { kind: 'seq', line, items: [] };
    let s = text.slice(1).trimStart();
    if (s.startsWith(']')) {
      this.expectEnd(s.slice(1), line);
      return seq;
    }
    for (;;) {
      if (s === '') this.fail(line, 'unterminated "[": flow lists must end on the same line');
      let value: string;
      let quoted = false;
      if (s.startsWith('"') || s.startsWith("'")) {
        const q = this.parseQuoted(s, line);
        value = q.value;
        quoted = true;
        s = q.rest.trimStart();
      } else {
        const m = /^[^,[\]{}#]*/.exec(s)!;
        value = m[0].trim();
        if (value === '') this.fail(line, `empty or unexpected item in a flow list near "${clip(s)}"`);
        this.checkPlainStart(value, line);
        s = s.slice(m[0].length);
      }
      seq.items.push({ kind: 'scalar', line, value, quoted });
      if (s.startsWith(',')) {
        s = s.slice(1).trimStart();
        if (s.startsWith(']')) {
          this.expectEnd(s.slice(1), line);
          return seq;
        }
        continue;
      }
      if (s.startsWith(']')) {
        this.expectEnd(s.slice(1), line);
        return seq;
      }
      this.fail(line, s === '' || s.startsWith('#') ? 'unterminated "[": flow lists must end on the same line' : `unexpected "${clip(s)}" in a flow list`);
    }
  }

  private expectEnd(rest: string, line: number): void {
    const r = rest.trim();
    if (r !== '' && !r.startsWith('#')) this.fail(line, `unexpected text "${clip(r)}" after the value`);
  }

  /** End index (exclusive) of the quoted string at the start of `text`, or undefined when it is not closed. */
  private quotedEnd(text: string): number | undefined {
    const q = text[0]!;
    for (let j = 1; j < text.length; j++) {
      const c = text[j];
      if (q === '"' && c === '\\') j++;
      else if (c === q) {
        if (q === "'" && text[j + 1] === "'") j++;
        else return j + 1;
      }
    }
    return undefined;
  }

  private parseQuoted(text: string, line: number): { value: string; rest: string } {
    const end = this.quotedEnd(text);
    if (end === undefined) this.fail(line, 'unterminated quoted string (multi-line strings are not supported)');
    const body = text.slice(1, end - 1);
    const value = text[0] === "'" ? body.replace(/''/g, "'") : unescapeDouble(body, (m) => this.fail(line, m));
    return { value, rest: text.slice(end) };
  }
}

const ESCAPES: Record<string, string> = { '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b', ' ': ' ', '"': '"', '/': '/', '\\': '\\' };

function unescapeDouble(body: string, fail: (m: string) => never): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/g, (_all, e: string) => {
    if (e.length > 1) return String.fromCodePoint(parseInt(e.slice(1), 16));
    const r = ESCAPES[e];
    if (r === undefined) fail(`unknown escape "\\${e}" in a double-quoted string`);
    return r;
  });
}

/** A plain scalar without its trailing comment (`#` after a space). */
function stripComment(text: string): string {
  const m = /\s#/.exec(text);
  return (m ? text.slice(0, m.index) : text).trimEnd();
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
