/**
 * A small TOML parser for the subset containers configuration files use: tables, arrays of tables,
 * dotted and quoted keys, basic/literal (and multi-line) strings, booleans, integers, arrays (over
 * several lines, with comments and a trailing comma) and inline tables. Errors name the file and line.
 */
import { FerryError, ErrorCode } from '../errors.js';

/** A parsed TOML value. */
export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
/** A parsed TOML table. */
export interface TomlTable {
  [key: string]: TomlValue;
}

const BARE_KEY = /[A-Za-z0-9_-]/;
// Sticky patterns that consume whole runs at once: a short-lived CLI runs this parser in V8's interpreter, where
// a call per character is what costs (registries.conf files are mostly comments, shortnames.conf mostly strings).
const BARE_KEY_RUN = /[A-Za-z0-9_-]*/y;
const PLAIN_BASIC_RUN = /[^"\\\n]*/y;

/**
 * Parses TOML text.
 * @param file name used in error messages.
 * @throws FerryError(E_CONFIG) `file:line: what is wrong`.
 */
export function parseToml(text: string, file = '<toml>'): TomlTable {
  return new Parser(text, file).parse();
}

class Parser {
  private pos = 0;
  private line = 1;
  private readonly root: TomlTable = {};
  /** Tables created by a `[header]` or by key/value assignment (cannot be opened again with a header). */
  private readonly defined = new WeakSet<TomlTable>();
  /** Tables created by inline `{}` or arrays (frozen for headers and dotted keys). */
  private readonly inline = new WeakSet<TomlTable>();
  /** Arrays created by `[[header]]` (others are static and cannot be appended to). */
  private readonly tableArrays = new WeakSet<TomlValue[]>();

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  private fail(msg: string): never {
    throw new FerryError(ErrorCode.Config, `${this.file}:${this.line}: ${msg}`);
  }

  private peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }

  private startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  private next(): string {
    const c = this.text[this.pos++] ?? '';
    if (c === '\n') this.line++;
    return c;
  }

  /** Skips spaces and tabs (not newlines). */
  private skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  private skipComment(): void {
    if (this.peek() !== '#') return;
    const nl = this.text.indexOf('\n', this.pos);
    this.pos = nl === -1 ? this.text.length : nl;
  }

  /** Moves past the run `re` (a sticky pattern) matches here and returns it. */
  private run(re: RegExp): string {
    re.lastIndex = this.pos;
    re.exec(this.text);
    const s = this.text.slice(this.pos, re.lastIndex);
    this.pos = re.lastIndex;
    return s;
  }

  /** Skips whitespace, newlines and comments. */
  private skipAll(): void {
    for (;;) {
      this.skipSpaces();
      this.skipComment();
      if (this.peek() === '\n') this.next();
      else if (this.peek() === '\r' && this.peek(1) === '\n') {
        this.pos++;
        this.next();
      } else return;
    }
  }

  /** After a statement: only spaces, a comment, then a newline or the end. */
  private endOfLine(): void {
    this.skipSpaces();
    this.skipComment();
    if (this.pos >= this.text.length) return;
    if (this.peek() === '\r' && this.peek(1) === '\n') this.pos++;
    if (this.peek() !== '\n') this.fail(`unexpected "${this.peek()}" after value`);
    this.next();
  }

  parse(): TomlTable {
    let current = this.root;
    for (;;) {
      this.skipAll();
      if (this.pos >= this.text.length) return this.root;
      if (this.startsWith('[[')) {
        this.pos += 2;
        const key = this.parseKey();
        this.skipSpaces();
        if (!this.startsWith(']]')) this.fail('expected "]]" to close the array-of-tables header');
        this.pos += 2;
        current = this.openArrayTable(key);
      } else if (this.peek() === '[') {
        this.pos++;
        const key = this.parseKey();
        this.skipSpaces();
        if (this.peek() !== ']') this.fail('expected "]" to close the table header');
        this.pos++;
        current = this.openTable(key);
      } else {
        this.parseKeyValue(current);
      }
      this.endOfLine();
    }
  }

  /** Walks (creating) the parent tables of a header key. */
  private walk(keys: string[]): TomlTable {
    let t = this.root;
    for (const k of keys) {
      const v = t[k];
      if (v === undefined) {
        const n: TomlTable = {};
        t[k] = n;
        t = n;
      } else if (Array.isArray(v)) {
        if (!this.tableArrays.has(v)) this.fail(`"${k}" is an array, not a table`);
        t = v[v.length - 1] as TomlTable;
      } else if (typeof v === 'object') {
        if (this.inline.has(v)) this.fail(`"${k}" is an inline table and cannot be extended`);
        t = v;
      } else this.fail(`"${k}" is already a ${typeof v}, not a table`);
    }
    return t;
  }

  private openTable(keys: string[]): TomlTable {
    const parent = this.walk(keys.slice(0, -1));
    const last = keys[keys.length - 1]!;
    const v = parent[last];
    if (v === undefined) {
      const t: TomlTable = {};
      parent[last] = t;
      this.defined.add(t);
      return t;
    }
    if (typeof v !== 'object' || Array.isArray(v) || this.defined.has(v) || this.inline.has(v)) {
      this.fail(`table [${keys.join('.')}] is defined more than once`);
    }
    this.defined.add(v);
    return v;
  }

  private openArrayTable(keys: string[]): TomlTable {
    const parent = this.walk(keys.slice(0, -1));
    const last = keys[keys.length - 1]!;
    const v = parent[last];
    const t: TomlTable = {};
    this.defined.add(t);
    if (v === undefined) {
      const arr: TomlValue[] = [t];
      this.tableArrays.add(arr);
      parent[last] = arr;
    } else if (Array.isArray(v) && this.tableArrays.has(v)) {
      v.push(t);
    } else this.fail(`[[${keys.join('.')}]] conflicts with an earlier definition of "${last}"`);
    return t;
  }

  private parseKeyValue(table: TomlTable): void {
    const keys = this.parseKey();
    this.skipSpaces();
    if (this.peek() !== '=') this.fail(`expected "=" after key "${keys.join('.')}"`);
    this.pos++;
    this.skipSpaces();
    const value = this.parseValue();
    let t = table;
    for (const k of keys.slice(0, -1)) {
      const v = t[k];
      if (v === undefined) {
        const n: TomlTable = {};
        this.defined.add(n);
        t[k] = n;
        t = n;
      } else if (typeof v === 'object' && !Array.isArray(v) && !this.inline.has(v)) t = v;
      else this.fail(`key "${k}" is already defined and is not a table`);
    }
    const last = keys[keys.length - 1]!;
    if (Object.hasOwn(t, last)) this.fail(`key "${keys.join('.')}" is defined more than once`);
    t[last] = value;
  }

  /** A possibly dotted key; each part bare or quoted. */
  private parseKey(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipSpaces();
      const c = this.peek();
      if (c === '"') keys.push(this.parseBasicString());
      else if (c === "'") keys.push(this.parseLiteralString());
      else {
        const key = this.run(BARE_KEY_RUN);
        if (key === '') this.fail(c === '' || c === '\n' ? 'expected a key' : `invalid character "${c}" in key`);
        keys.push(key);
      }
      this.skipSpaces();
      if (this.peek() !== '.') return keys;
      this.pos++;
    }
  }

  private parseValue(): TomlValue {
    const c = this.peek();
    if (this.startsWith('"""')) return this.parseMultilineBasic();
    if (this.startsWith("'''")) return this.parseMultilineLiteral();
    if (c === '"') return this.parseBasicString();
    if (c === "'") return this.parseLiteralString();
    if (c === '[') return this.parseArray();
    if (c === '{') return this.parseInlineTable();
    if (this.startsWith('true') && !BARE_KEY.test(this.peek(4))) {
      this.pos += 4;
      return true;
    }
    if (this.startsWith('false') && !BARE_KEY.test(this.peek(5))) {
      this.pos += 5;
      return false;
    }
    const m = /^[+-]?(0|[1-9](_?[0-9])*)(?![0-9A-Za-z_.:-])/.exec(this.text.slice(this.pos, this.pos + 40));
    if (m) {
      this.pos += m[0].length;
      return Number(m[0].replace(/_/g, ''));
    }
    if (c === '' || c === '\n' || c === '#') this.fail('expected a value');
    this.fail(`unsupported or invalid value starting with "${c}"`);
  }

  private parseEscape(): string {
    const e = this.next();
    switch (e) {
      case 'b': return '\b';
      case 't': return '\t';
      case 'n': return '\n';
      case 'f': return '\f';
      case 'r': return '\r';
      case '"': return '"';
      case '\\': return '\\';
      case 'u':
      case 'U': {
        const len = e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + len);
        if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) this.fail(`invalid \\${e} escape`);
        this.pos += len;
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail(`invalid unicode escape \\${e}${hex}`);
        return String.fromCodePoint(cp);
      }
      default:
        this.fail(`invalid escape sequence "\\${e}" in string`);
    }
  }

  private parseBasicString(): string {
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      out += this.run(PLAIN_BASIC_RUN);
      if (this.peek() === '' || this.peek() === '\n') this.fail('unterminated string');
      if (this.next() === '"') return out;
      out += this.parseEscape(); // the other character that ends a run is a backslash
    }
  }

  private parseLiteralString(): string {
    this.pos++;
    const start = this.pos;
    for (;;) {
      if (this.peek() === '' || this.peek() === '\n') this.fail('unterminated string');
      const c = this.next();
      if (c === "'") return this.text.slice(start, this.pos - 1);
    }
  }

  private parseMultilineBasic(): string {
    this.pos += 3;
    if (this.startsWith('\r\n')) this.pos++;
    if (this.peek() === '\n') this.next();
    let out = '';
    for (;;) {
      if (this.startsWith('"""')) {
        this.pos += 3;
        return out;
      }
      const c = this.next();
      if (c === '') this.fail('unterminated multi-line string');
      if (c === '\\') {
        // Line-ending backslash: trim the newline and following whitespace.
        let p = this.pos;
        while (this.text[p] === ' ' || this.text[p] === '\t') p++;
        if (this.text[p] === '\n' || (this.text[p] === '\r' && this.text[p + 1] === '\n')) {
          this.pos = p;
          while (/[\s]/.test(this.peek()) && this.peek() !== '') this.next();
        } else out += this.parseEscape();
      } else out += c;
    }
  }

  private parseMultilineLiteral(): string {
    this.pos += 3;
    if (this.startsWith('\r\n')) this.pos++;
    if (this.peek() === '\n') this.next();
    const start = this.pos;
    for (;;) {
      if (this.startsWith("'''")) {
        const s = this.text.slice(start, this.pos);
        this.pos += 3;
        return s;
      }
      if (this.next() === '') this.fail('unterminated multi-line string');
    }
  }

  private parseArray(): TomlValue[] {
    this.pos++;
    const arr: TomlValue[] = [];
    for (;;) {
      this.skipAll();
      if (this.peek() === ']') {
        this.pos++;
        return arr;
      }
      if (this.pos >= this.text.length) this.fail('unterminated array');
      arr.push(this.parseValue());
      this.skipAll();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== ']') this.fail(`expected "," or "]" in array, got "${this.peek()}"`);
    }
  }

  private parseInlineTable(): TomlTable {
    this.pos++;
    const t: TomlTable = {};
    this.inline.add(t);
    this.skipSpaces();
    if (this.peek() === '}') {
      this.pos++;
      return t;
    }
    for (;;) {
      this.parseKeyValue(t);
      this.skipSpaces();
      const c = this.next();
      if (c === '}') return t;
      if (c !== ',') this.fail(`expected "," or "}" in inline table, got "${c}"`);
    }
  }
}
