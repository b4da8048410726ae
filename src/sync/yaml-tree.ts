/**
 * Reading a YAML file into a small tree of mappings, sequences and scalars, each with its line, for the sync source
 * file. The `yaml` package does the parsing (YAML 1.2 with flow collections, anchors and aliases, and YAML 1.1 merge
 * keys `<<: *base`, which skopeo's go-yaml v2 reads).
 *
 * Every scalar stays the text it was written as (the failsafe schema: `1.10` is "1.10", `yes` is "yes"), as go-yaml
 * gives it to skopeo's string fields; the caller interprets booleans. A plain empty value, `~` or `null` is
 * {@link YamlNull} (go-yaml's nil).
 *
 * Aliases are expanded; a file whose aliases expand to more than {@link MAX_NODES} nodes, or nest deeper than
 * {@link MAX_DEPTH} (an alias inside its own anchor), is refused rather than expanded without end.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, visit, type Node } from 'yaml';
import { FerryError, ErrorCode } from '../errors.js';

/** A parsed node, with the 1-based line and column it starts at (for error messages). */
export type YamlNode = YamlMap | YamlSeq | YamlScalar | YamlNull;

/** A mapping, keys in file order. */
export interface YamlMap {
  kind: 'map';
  line: number;
  column: number;
  entries: Map<string, { line: number; value: YamlNode }>;
}

/** A sequence. */
export interface YamlSeq {
  kind: 'seq';
  line: number;
  column: number;
  items: YamlNode[];
}

/** A scalar as text; `quoted` when it was written in quotes (then never a boolean or null). */
export interface YamlScalar {
  kind: 'scalar';
  line: number;
  column: number;
  value: string;
  quoted: boolean;
}

/** An empty value (`key:` with nothing after it, `~`, `null`). */
export interface YamlNull {
  kind: 'null';
  line: number;
  column: number;
}

/** Most nodes a file may expand to (aliases included). */
export const MAX_NODES = 100_000;
/** Deepest nesting of collections (aliases included). */
export const MAX_DEPTH = 64;

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);

/**
 * Parses `text` (one YAML document) into a node tree; an empty document is {@link YamlNull}.
 * @param file names the file in error messages.
 * @throws FerryError(E_CONFIG) `file:line:column: what is wrong` for syntax errors and duplicate keys, `file:line:
 *         what is wrong` for keys that are not scalars and alias bombs.
 */
export function parseYaml(text: string, file = '<yaml>'): YamlNode {
  const lines = new LineCounter();
  const doc = parseDocument(text, { schema: 'failsafe', merge: true, uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  const lineOf = (offset: number | undefined) => (offset === undefined ? 1 : lines.linePos(offset).line);
  const colOf = (offset: number | undefined) => (offset === undefined ? 1 : lines.linePos(offset).col);
  const fail = (line: number, msg: string): never => {
    throw new FerryError(ErrorCode.Config, `${file}:${line}: ${msg}`);
  };
  const err = doc.errors[0];
  if (err) {
    const msg = err.code === 'MULTIPLE_DOCS' ? 'only one YAML document is supported' : oneLine(err.message);
    throw new FerryError(ErrorCode.Config, `${file}:${lineOf(err.pos[0])}:${colOf(err.pos[0])}: ${msg}`);
  }
  let count = 0;
  // What each alias names: the last node before it with that anchor, found in one walk of the document (the
  // package's own lookup walks the whole document for every alias: quadratic, minutes for a file of 10,000 aliases).
  const targets = new Map<object, unknown>();
  const anchors = new Map<string, unknown>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) targets.set(node, anchors.get(node.source));
      else if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  const convert = (node: unknown, depth: number, at: number, atCol = 1): YamlNode => {
    if (++count > MAX_NODES) fail(at, `the file expands to more than ${MAX_NODES} values (aliases)`);
    if (depth > MAX_DEPTH) fail(at, `values nested more than ${MAX_DEPTH} deep (an alias inside its own anchor?)`);
    if (node === null || node === undefined) return { kind: 'null', line: at, column: atCol };
    if (isAlias(node)) {
      const target = targets.get(node);
      const aliasLine = lineOf(node.range?.[0]);
      const aliasCol = colOf(node.range?.[0]);
      if (target === undefined) fail(aliasLine, `unknown alias *${node.source}`);
      return { ...convert(target, depth + 1, aliasLine, aliasCol), line: aliasLine, column: aliasCol };
    }
    const line = lineOf((node as Node).range?.[0]);
    const column = colOf((node as Node).range?.[0]);
    if (isScalar(node)) {
      const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
      const value = String(node.value);
      if (!quoted && (node.type === Scalar.PLAIN || node.type === undefined) && NULLS.has(value)) return { kind: 'null', line, column };
      return { kind: 'scalar', line, column, value, quoted };
    }
    if (isSeq(node)) return { kind: 'seq', line, column, items: node.items.map((it) => convert(it, depth + 1, line, column)) };
    if (isMap(node)) {
      const entries = new Map<string, { line: number; value: YamlNode }>();
      const merged = new Map<string, { line: number; value: YamlNode }>();
      for (const pair of node.items) {
        const keyLine = lineOf((pair.key as Node | null)?.range?.[0]) || line;
        if (isScalar(pair.key) && typeof pair.key.value === 'symbol') {
          // `<<: *base` or `<<: [*a, *b]`: the keys of those mappings, unless the mapping sets them itself
          const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
          for (const s of sources) {
            const m = convert(s, depth + 1, keyLine);
            if (m.kind !== 'map') fail(keyLine, 'a merge key (<<) takes a mapping or a list of mappings');
            for (const [k, v] of (m as YamlMap).entries) if (!merged.has(k)) merged.set(k, v);
          }
          continue;
        }
        const key = convert(pair.key, depth + 1, keyLine);
        if (key.kind === 'map' || key.kind === 'seq') fail(keyLine, 'a key must be a single value');
        entries.set(key.kind === 'null' ? '' : (key as YamlScalar).value, { line: keyLine, value: convert(pair.value, depth + 1, keyLine, key.column) });
      }
      for (const [k, v] of merged) if (!entries.has(k)) entries.set(k, v);
      return { kind: 'map', line, column, entries };
    }
    return fail(line, 'unsupported YAML value');
  };
  return convert(doc.contents, 0, 1, 1);
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ').replace(/[;:]\s*$/, '');
}
