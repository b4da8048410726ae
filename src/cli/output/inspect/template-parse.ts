/**
 * Hand-written to accept and reject templates exactly as Go's text/template parser does.
 *
 * Parser for the subset of Go's text/template that `inspect --format` supports: text, `{{pipeline}}`,
 * `{{$x := pipeline}}` and `{{$x = pipeline}}` (also in `if`, `with` and `range`, where `range` takes `$i, $v`),
 * `{{if}}`/`{{else if}}`/`{{else}}`, `{{range}}`, `{{with}}`, `{{end}}`, comments, `{{-`/`-}}` trimming, pipes,
 * parentheses, field chains, variables, string/number/bool literals. As Go's parser, it refuses a variable used
 * where no declaration (or assignment) of it precedes it in the same or an enclosing block.
 */
import { FerryError, ErrorCode } from '../../../errors.js';

/** An operand or call in a pipeline. */
export type Arg =
  | { t: 'dot'; fields: string[] }
  | { t: 'var'; name: string; fields: string[] }
  | { t: 'lit'; value: string | number | boolean | null }
  | { t: 'fn'; name: string }
  | { t: 'paren'; pipe: Pipe; fields: string[] };

/** A command: its first word is a function (then the rest are its arguments) or a single operand. */
export type Command = Arg[];
/** `cmd | cmd | …` with optional variable declarations (`$k, $v :=`) or assignments (`$k, $v =`; `assign` set). */
export interface Pipe {
  decl: string[];
  assign?: boolean;
  cmds: Command[];
}

/** A template node. */
export type Node = { t: 'text'; text: string } | { t: 'print'; pipe: Pipe } | BlockNode;
/** `{{if}}`, `{{with}}` or `{{range}}` with its body and `{{else}}` part. */
export interface BlockNode {
  t: 'if' | 'with' | 'range';
  pipe: Pipe;
  body: Node[];
  alt: Node[];
}

/** Raises a template error (E_USAGE, since the template comes from the command line). */
export function templateError(msg: string): FerryError {
  return new FerryError(ErrorCode.Usage, `template: ${msg}`);
}

const SPACE = /[ \t\r\n]/;

interface Action {
  body: string;
}

/** Splits the template into text and action bodies, applying `{{-`/`-}}` trimming and dropping comments. */
function split(tpl: string): (string | Action)[] {
  const out: (string | Action)[] = [];
  let i = 0;
  let trimNext = false;
  while (i < tpl.length) {
    const open = tpl.indexOf('{{', i);
    let text = open < 0 ? tpl.slice(i) : tpl.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      if (text !== '') out.push(text);
      break;
    }
    let start = open + 2;
    if (tpl[start] === '-' && SPACE.test(tpl[start + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      start += 2;
    }
    if (text !== '') out.push(text);
    const close = findClose(tpl, start);
    if (close < 0) throw templateError(`unclosed action starting at offset ${open}`);
    let end = close;
    trimNext = false;
    if (tpl[close - 1] === '-' && SPACE.test(tpl[close - 2] ?? '')) {
      trimNext = true;
      end = close - 2;
    }
    const body = tpl.slice(start, end).trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ body });
    i = close + 2;
  }
  return out;
}

/** Finds the `}}` closing an action, skipping string literals. */
function findClose(tpl: string, from: number): number {
  for (let i = from; i < tpl.length; i++) {
    const c = tpl[i];
    if (c === '"' || c === '`' || c === "'") {
      const q = c;
      for (i++; i < tpl.length && tpl[i] !== q; i++) if (tpl[i] === '\\' && q !== '`') i++;
      continue;
    }
    if (c === '}' && tpl[i + 1] === '}') return i;
  }
  return -1;
}

type Tok =
  | { k: 'field'; v: string; adj: boolean } // .Name (v without the dot); '' for bare dot; adj: no space before it
  | { k: 'var'; v: string }
  | { k: 'str' | 'ident'; v: string }
  | { k: 'num'; v: number }
  | { k: '(' | ')' | '|' | ',' | ':=' | '=' };

function unquote(body: string): string {
  let r = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      r += c;
      continue;
    }
    const n = body[++i];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
    if (n !== undefined && simple[n] !== undefined) r += simple[n];
    else if (n === 'x' || n === 'u' || n === 'U') {
      const len = n === 'x' ? 2 : n === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + len);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw templateError(`invalid escape in string literal`);
      r += String.fromCodePoint(parseInt(hex, 16));
      i += len;
    } else throw templateError(`invalid escape \\${n ?? ''} in string literal`);
  }
  return r;
}

function lex(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const ident = /[A-Za-z_][A-Za-z0-9_]*/y;
  while (i < s.length) {
    const c = s[i]!;
    if (SPACE.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === '|' || c === ',') {
      toks.push({ k: c });
      i++;
    } else if (c === ':' && s[i + 1] === '=') {
      toks.push({ k: ':=' });
      i += 2;
    } else if (c === '=') {
      toks.push({ k: '=' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      if (j >= s.length) throw templateError('unterminated quoted string');
      toks.push({ k: 'str', v: unquote(s.slice(i + 1, j)) });
      i = j + 1;
    } else if (c === '`') {
      const j = s.indexOf('`', i + 1);
      if (j < 0) throw templateError('unterminated raw quoted string');
      toks.push({ k: 'str', v: s.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '.' || c === '$') {
      ident.lastIndex = i + 1;
      const m = ident.exec(s);
      const name = m ? m[0] : '';
      const adj = i > 0 && !SPACE.test(s[i - 1]!) && s[i - 1] !== '(' && s[i - 1] !== '|' && s[i - 1] !== ',';
      toks.push(c === '.' ? { k: 'field', v: name, adj } : { k: 'var', v: name });
      i += 1 + name.length;
      // Go's lexer ends a field or variable only at a space, `.`, `,`, `|`, `:`, a parenthesis or the action's end
      if (s[i] === '=') throw templateError(`bad character U+003D '='`);
    } else if (/[0-9-]/.test(c)) {
      const m = /-?[0-9]+(\.[0-9]+)?/y;
      m.lastIndex = i;
      const r = m.exec(s);
      if (!r) throw templateError(`unexpected ${JSON.stringify(c)} in operand`);
      toks.push({ k: 'num', v: Number(r[0]) });
      i += r[0].length;
    } else {
      ident.lastIndex = i;
      const m = ident.exec(s);
      if (!m) throw templateError(`unexpected ${JSON.stringify(c)} in operand`);
      toks.push({ k: 'ident', v: m[0] });
      i += m[0].length;
    }
  }
  return toks;
}

/** Adjacent `.A.B` tokens after an operand form its field chain. */
function fieldChain(toks: Tok[], pos: { i: number }): string[] {
  const fields: string[] = [];
  for (;;) {
    const t = toks[pos.i];
    if (t?.k !== 'field' || t.v === '' || !t.adj) break;
    fields.push(t.v);
    pos.i++;
  }
  return fields;
}

/**
 * The variables in scope while parsing, innermost last (`$` is always there). A block's declarations are dropped
 * at its `{{end}}`, as Go's parser drops them.
 */
type ParseScope = string[];

/**
 * The context a pipeline is parsed in, named as in Go's messages: an action (`command`), a block's pipeline (`if`,
 * `with`, `range`: `range` alone declares two variables), or none (inside parentheses: no declarations).
 */
type PipeContext = 'command' | 'if' | 'with' | 'range' | undefined;

function parsePipe(toks: Tok[], pos: { i: number }, context: PipeContext, scope: ParseScope): Pipe {
  const decl: string[] = [];
  let assign = false;
  if (context !== undefined) {
    let j = pos.i;
    const names: string[] = [];
    while (toks[j]?.k === 'var') {
      names.push((toks[j] as { v: string }).v);
      if (toks[j + 1]?.k === ',') j += 2;
      else {
        j++;
        break;
      }
    }
    const op = toks[j]?.k;
    if (names.length > 0 && (op === ':=' || op === '=')) {
      if (names.length > (context === 'range' ? 2 : 1)) throw templateError(`too many declarations in ${context}`);
      decl.push(...names);
      assign = op === '=';
      pos.i = j + 1;
      // Go's parser takes an assigned variable as declared too; assigning one never declared fails when it runs
      scope.push(...names);
    }
  }
  const cmds: Command[] = [];
  let cmd: Command = [];
  for (;;) {
    const t = toks[pos.i];
    if (t === undefined || t.k === ')') break;
    pos.i++;
    if (t.k === '|') {
      if (cmd.length === 0) throw templateError('missing command before |');
      cmds.push(cmd);
      cmd = [];
    } else if (t.k === 'field') {
      const fields = t.v === '' ? [] : [t.v, ...fieldChain(toks, pos)];
      cmd.push({ t: 'dot', fields });
    } else if (t.k === 'var') {
      if (!scope.includes(t.v)) throw templateError(`undefined variable "$${t.v}"`);
      cmd.push({ t: 'var', name: t.v, fields: fieldChain(toks, pos) });
    } else if (t.k === 'str' || t.k === 'num') {
      cmd.push({ t: 'lit', value: t.v });
    } else if (t.k === 'ident') {
      if (t.v === 'true' || t.v === 'false') cmd.push({ t: 'lit', value: t.v === 'true' });
      else if (t.v === 'nil') cmd.push({ t: 'lit', value: null });
      else cmd.push({ t: 'fn', name: t.v });
    } else if (t.k === '(') {
      const pipe = parsePipe(toks, pos, undefined, scope);
      if (toks[pos.i]?.k !== ')') throw templateError('unclosed left paren');
      pos.i++;
      cmd.push({ t: 'paren', pipe, fields: fieldChain(toks, pos) });
    } else {
      throw templateError(`unexpected ${t.k} in command`);
    }
  }
  if (cmd.length > 0) cmds.push(cmd);
  if (cmds.length === 0) throw templateError('missing value for command');
  return assign ? { decl, assign, cmds } : { decl, cmds };
}

function parseActionPipe(s: string, context: PipeContext, scope: ParseScope): Pipe {
  const toks = lex(s);
  const pos = { i: 0 };
  const pipe = parsePipe(toks, pos, context, scope);
  if (pos.i < toks.length) throw templateError(`unexpected ")" in ${JSON.stringify(s)}`);
  return pipe;
}

/** Parses a template into nodes. @throws FerryError(E_USAGE) */
export function parseTemplate(tpl: string): Node[] {
  const parts = split(tpl);
  const pos = { i: 0 };
  const nodes = parseList(parts, pos, false, ['']);
  if (pos.i < parts.length) throw templateError(`unexpected {{${(parts[pos.i] as Action).body}}}`);
  return nodes;
}

const KEYWORD = /^(if|range|with|else|end)(?:$|[ \t\r\n(])/;

/** Parses nodes until `{{end}}`/`{{else…}}` (left for the caller) or the end. */
function parseList(parts: (string | Action)[], pos: { i: number }, inBlock: boolean, scope: ParseScope): Node[] {
  const nodes: Node[] = [];
  while (pos.i < parts.length) {
    const p = parts[pos.i]!;
    if (typeof p === 'string') {
      nodes.push({ t: 'text', text: p });
      pos.i++;
      continue;
    }
    const kw = KEYWORD.exec(p.body)?.[1];
    if (kw === 'end' || kw === 'else') {
      if (!inBlock) throw templateError(`unexpected {{${kw}}}`);
      return nodes;
    }
    pos.i++;
    if (kw === 'if' || kw === 'range' || kw === 'with') {
      nodes.push(parseBlock(kw, p.body.slice(kw.length), parts, pos, scope));
    } else {
      if (p.body === '') throw templateError('missing value for command');
      nodes.push({ t: 'print', pipe: parseActionPipe(p.body, 'command', scope) });
    }
  }
  if (inBlock) throw templateError('unexpected EOF: missing {{end}}');
  return nodes;
}

/** Parses a block after its keyword; the variables it declares (in its pipeline, body or else part) end with it. */
function parseBlock(kind: 'if' | 'range' | 'with', rest: string, parts: (string | Action)[], pos: { i: number }, scope: ParseScope): Node {
  const depth = scope.length;
  try {
    return parseBlockIn(kind, rest, parts, pos, scope);
  } finally {
    scope.length = depth;
  }
}

function parseBlockIn(kind: 'if' | 'range' | 'with', rest: string, parts: (string | Action)[], pos: { i: number }, scope: ParseScope): Node {
  const pipe = parseActionPipe(rest, kind, scope);
  const body = parseList(parts, pos, true, scope);
  let alt: Node[] = [];
  const term = parts[pos.i] as Action | undefined;
  if (term === undefined) throw templateError('unexpected EOF: missing {{end}}');
  pos.i++;
  if (term.body.startsWith('else')) {
    const elseRest = term.body.slice(4).trim();
    if (elseRest.startsWith('if') && kind === 'if' && /^if(?:$|[ \t\r\n(])/.test(elseRest)) {
      // {{else if X}} … is {{else}}{{if X}} … {{end}}{{end}} sharing one {{end}}.
      alt = [parseBlock('if', elseRest.slice(2), parts, pos, scope)];
      return { t: kind, pipe, body, alt };
    }
    if (elseRest !== '') throw templateError(`unexpected ${JSON.stringify(elseRest)} after else`);
    alt = parseList(parts, pos, true, scope);
    const end = parts[pos.i] as Action | undefined;
    if (end === undefined || end.body !== 'end') throw templateError('expected {{end}}');
    pos.i++;
  } else if (term.body !== 'end') {
    throw templateError(`unexpected {{${term.body}}}`);
  }
  return { t: kind, pipe, body, alt };
}
