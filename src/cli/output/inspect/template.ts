/**
 * Hand-written to match Go's text/template output byte for byte (skopeo's `inspect --format`).
 *
 * `renderTemplate`: executes a Go text/template subset (see `template-parse.ts`) over the Go-like value model
 * of `go-fmt.ts`. Functions: `json` (compact, no HTML escaping, as containers/common's report package),
 * `index`, `len`, `printf`, `print`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`,
 * `join`, `lower`, `upper`, `split`; on a time (`.Created`), the methods of Go's `time.Time` a format uses (`Unix`,
 * `Year`, `Month`, `Day`, …, `UTC`, `Format "2006-01-02"`).
 */
import { goMarshal, quoteGo } from '../../../manifest/go-json.js';
import { GoTime } from '../../../manifest/go-time.js';
import { GoNil, NO_VALUE, goSprint, goTruth } from './go-fmt.js';
import { parseTemplate, templateError, type Arg, type BlockNode, type Command, type Node, type Pipe } from './template-parse.js';

/**
 * The variables of one block while a template runs, as Go's: `{{$x := …}}` declares in the innermost block (to its
 * `{{end}}`), `{{$x = …}}` changes the innermost declared `$x` wherever it was declared. `$` is declared at the top.
 */
class Vars {
  private readonly own = new Map<string, unknown>();
  constructor(private readonly parent?: Vars) {}

  /** A block inside this one. */
  child(): Vars {
    return new Vars(this);
  }

  declare(name: string, v: unknown): void {
    this.own.set(name, v);
  }

  /** @throws when no block declares `name` (Go's exec error). */
  assign(name: string, v: unknown): void {
    for (let s: Vars | undefined = this; s !== undefined; s = s.parent) {
      if (s.own.has(name)) {
        s.own.set(name, v);
        return;
      }
    }
    throw templateError(`undefined variable: $${name}`);
  }

  /** @throws when no block declares `name`. */
  get(name: string): unknown {
    for (let s: Vars | undefined = this; s !== undefined; s = s.parent) if (s.own.has(name)) return s.own.get(name);
    throw templateError(`undefined variable: $${name}`);
  }

  /** Declares or assigns (as `p` says) each of `p`'s variables to the value of its pipeline. */
  bind(p: Pipe, values: unknown[]): void {
    p.decl.forEach((name, i) => (p.assign ? this.assign(name, values[i]) : this.declare(name, values[i])));
  }
}

function typeName(v: unknown): string {
  if (v === null || v === undefined || v === NO_VALUE) return 'interface {}';
  if (v instanceof GoNil) return v.kind === 'map' ? 'map' : v.kind === 'slice' ? 'slice' : 'pointer';
  if (v instanceof GoTime) return 'time.Time';
  if (Array.isArray(v)) return 'slice';
  if (v instanceof Map) return 'map';
  return typeof v === 'object' ? 'struct' : typeof v === 'number' ? 'int' : typeof v;
}

function fieldOf(v: unknown, name: string): unknown {
  if (v instanceof Map) return v.has(name) ? v.get(name) : NO_VALUE;
  if (v instanceof GoTime) {
    // a method of time.Time called without arguments (`.Created.Unix`); `Format` takes one (see Exec.command)
    const r = v.method(name);
    if (r !== undefined) return r;
    if (name === 'Format') throw templateError(`wrong number of args for Format: want 1 got 0`);
  }
  if (v instanceof GoNil) {
    if (v.kind === 'map') return NO_VALUE;
    throw templateError(`nil pointer evaluating .${name}`);
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof GoTime) && Object.prototype.propertyIsEnumerable.call(v, name)) {
    return (v as Record<string, unknown>)[name];
  }
  throw templateError(`can't evaluate field ${name} in type ${typeName(v)}`);
}

function fields(v: unknown, names: string[]): unknown {
  return names.reduce(fieldOf, v);
}

function toJsonValue(v: unknown): unknown {
  return v === NO_VALUE ? null : v;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (op === 'eq') return a === b;
  if (op === 'ne') return a !== b;
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) throw templateError(`error calling ${op}: incompatible types for comparison`);
  const x = a as number | string;
  const y = b as number | string;
  return op === 'lt' ? x < y : op === 'le' ? x <= y : op === 'gt' ? x > y : x >= y;
}

function sprintf(format: string, args: unknown[]): string {
  let n = 0;
  const out = format.replace(/%([%vsdqt])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    if (verb === 'q') return typeof a === 'string' ? quoteGo(a, false) : `%!q(${typeName(a)}=${goSprint(a)})`;
    if (verb === 'd' && typeof a !== 'number') return `%!d(${typeName(a)}=${goSprint(a)})`;
    return goSprint(a);
  });
  return n < args.length ? `${out}%!(EXTRA ${args.slice(n).map((a) => `${typeName(a)}=${goSprint(a)}`).join(', ')})` : out;
}

const FUNCS: Record<string, (args: unknown[]) => unknown> = {
  json: (a) => goMarshal(toJsonValue(one('json', a)), { escapeHtml: false }),
  len: (a) => {
    const v = one('len', a);
    if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
    if (Array.isArray(v)) return v.length;
    if (v instanceof Map) return v.size;
    if (v instanceof GoNil && v.kind !== 'ptr') return 0;
    throw templateError(`error calling len: len of type ${typeName(v)}`);
  },
  index: (a) => {
    if (a.length === 0) throw templateError('wrong number of args for index: want at least 1 got 0');
    let v = a[0];
    for (const k of a.slice(1)) {
      if (Array.isArray(v) || typeof v === 'string') {
        if (typeof k !== 'number' || !Number.isInteger(k)) throw templateError('error calling index: cannot index slice/array with non-integer');
        if (k < 0 || k >= v.length) throw templateError(`error calling index: index out of range: ${k}`);
        v = typeof v === 'string' ? Buffer.from(v)[k] : v[k];
      } else if (v instanceof Map) {
        v = v.has(k) ? v.get(k) : '';
      } else if (v instanceof GoNil && v.kind === 'map') {
        v = '';
      } else if (v instanceof GoNil && v.kind === 'slice') {
        throw templateError(`error calling index: index out of range: ${goSprint(k)}`);
      } else {
        throw templateError(`error calling index: can't index item of type ${typeName(v)}`);
      }
    }
    return v;
  },
  printf: (a) => {
    if (typeof a[0] !== 'string') throw templateError('error calling printf: format must be a string');
    return sprintf(a[0], a.slice(1));
  },
  print: (a) => a.map((v, i) => (i > 0 && typeof v !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + goSprint(v)).join(''),
  println: (a) => `${a.map((v) => goSprint(v)).join(' ')}\n`,
  not: (a) => !goTruth(one('not', a)),
  and: (a) => a.find((v) => !goTruth(v)) ?? a[a.length - 1],
  or: (a) => a.find((v) => goTruth(v)) ?? a[a.length - 1],
  eq: (a) => a.slice(1).some((b) => compare('eq', a[0], b)),
  ne: (a) => compare('ne', a[0], a[1]),
  lt: (a) => compare('lt', a[0], a[1]),
  le: (a) => compare('le', a[0], a[1]),
  gt: (a) => compare('gt', a[0], a[1]),
  ge: (a) => compare('ge', a[0], a[1]),
  join: (a) => {
    const [list, sep] = a;
    if (!(Array.isArray(list) || list instanceof GoNil) || typeof sep !== 'string') throw templateError('error calling join: want a list of strings and a separator');
    return Array.isArray(list) ? list.map((e) => goSprint(e)).join(sep) : '';
  },
  lower: (a) => str('lower', a).toLowerCase(),
  upper: (a) => str('upper', a).toUpperCase(),
  split: (a) => {
    if (typeof a[0] !== 'string' || typeof a[1] !== 'string') throw templateError('error calling split: want two strings');
    return a[0].split(a[1]);
  },
};

function one(name: string, a: unknown[]): unknown {
  if (a.length !== 1) throw templateError(`wrong number of args for ${name}: want 1 got ${a.length}`);
  return a[0];
}

function str(name: string, a: unknown[]): string {
  const v = one(name, a);
  if (typeof v !== 'string') throw templateError(`error calling ${name}: want a string, got ${typeName(v)}`);
  return v;
}

class Exec {
  private arg(a: Arg, dot: unknown, vars: Vars): unknown {
    switch (a.t) {
      case 'dot':
        return fields(dot, a.fields);
      case 'var':
        return fields(vars.get(a.name), a.fields);
      case 'lit':
        return a.value;
      case 'paren':
        return fields(this.pipe(a.pipe, dot, vars), a.fields);
      case 'fn':
        return this.call(a.name, [], dot, vars);
    }
  }

  private call(name: string, args: unknown[], _dot: unknown, _vars: Vars): unknown {
    const f = FUNCS[name];
    if (f === undefined) throw templateError(`function ${JSON.stringify(name)} not defined`);
    return f(args);
  }

  private command(cmd: Command, dot: unknown, vars: Vars, piped: unknown[]): unknown {
    const [head, ...rest] = cmd;
    if (head!.t === 'fn') {
      const args = rest.map((a) => this.arg(a, dot, vars));
      return this.call(head!.name, [...args, ...piped], dot, vars);
    }
    if (rest.length > 0 || piped.length > 0) {
      const format = this.timeFormat(head!, dot, vars);
      if (format !== undefined) {
        const args = [...rest.map((a) => this.arg(a, dot, vars)), ...piped];
        if (args.length !== 1) throw templateError(`wrong number of args for Format: want 1 got ${args.length}`);
        if (typeof args[0] !== 'string') throw templateError(`wrong type for value; expected string; got ${typeName(args[0])}`);
        return format.format(args[0]);
      }
      throw templateError(`can't give argument to non-function ${describe(head!)}`);
    }
    return this.arg(head!, dot, vars);
  }

  /** The time whose `Format` method `a` names (`.Created.Format`, `$t.Format`), if it names one. */
  private timeFormat(a: Arg, dot: unknown, vars: Vars): GoTime | undefined {
    if ((a.t !== 'dot' && a.t !== 'var' && a.t !== 'paren') || a.fields.at(-1) !== 'Format') return undefined;
    const receiver = this.arg({ ...a, fields: a.fields.slice(0, -1) }, dot, vars);
    return receiver instanceof GoTime ? receiver : undefined;
  }

  pipe(p: Pipe, dot: unknown, vars: Vars): unknown {
    let v: unknown;
    p.cmds.forEach((c, i) => {
      v = this.command(c, dot, vars, i === 0 ? [] : [v]);
    });
    return v;
  }

  run(nodes: Node[], dot: unknown, vars: Vars, out: string[]): void {
    for (const n of nodes) {
      if (n.t === 'text') out.push(n.text);
      else if (n.t === 'print') {
        const v = this.pipe(n.pipe, dot, vars);
        // `{{$x := pipe}}` and `{{$x = pipe}}` print nothing
        if (n.pipe.decl.length > 0) vars.bind(n.pipe, [v]);
        else out.push(goSprint(v));
      } else if (n.t === 'if' || n.t === 'with') {
        // the pipeline's variable, and those the body or else part declares, last to the block's {{end}}
        const inner = vars.child();
        const v = this.pipe(n.pipe, dot, vars);
        inner.bind(n.pipe, [v]);
        if (goTruth(v)) this.run(n.body, n.t === 'with' ? v : dot, inner, out);
        else this.run(n.alt, dot, inner, out);
      } else {
        this.range(n, dot, vars, out);
      }
    }
  }

  private range(n: BlockNode, dot: unknown, outer: Vars, out: string[]): void {
    const v = this.pipe({ decl: [], cmds: n.pipe.cmds }, dot, outer);
    // Go binds the variables to the whole value first (what an empty range's {{else}} sees), then to each item
    const vars = outer.child();
    vars.bind(n.pipe, n.pipe.decl.map(() => v));
    let items: [unknown, unknown][];
    if (Array.isArray(v)) items = v.map((e, i) => [i, e]);
    else if (v instanceof Map) items = [...v.keys()].sort().map((k) => [k, v.get(k)]);
    else if (v instanceof GoNil || v === null || v === NO_VALUE) items = [];
    else if (typeof v === 'number' && Number.isInteger(v)) items = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
    else throw templateError(`range can't iterate over ${goSprint(v)}`);
    if (items.length === 0) {
      this.run(n.alt, dot, vars.child(), out);
      return;
    }
    for (const [k, e] of items) {
      vars.bind(n.pipe, n.pipe.decl.length === 2 ? [k, e] : [e]);
      this.run(n.body, e, vars.child(), out);
    }
  }
}

function describe(a: Arg): string {
  return a.t === 'dot' ? `.${a.fields.join('.')}` : a.t === 'var' ? `$${a.name}` : a.t === 'lit' ? String(a.value) : '(…)';
}

/**
 * Executes Go template `tpl` over `data` (no escapes processed in template text, no newline added).
 * @throws FerryError(E_USAGE) for a template that does not parse or fails (unknown field, bad call, …).
 */
export function renderTemplate(tpl: string, data: unknown): string {
  const nodes = parseTemplate(tpl);
  const out: string[] = [];
  const vars = new Vars();
  vars.declare('', data);
  new Exec().run(nodes, data, vars, out);
  return out.join('');
}
