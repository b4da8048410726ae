/**
 * `WWW-Authenticate` parsing (RFC 7235): one or more challenges, each a scheme followed by either a token68 or a
 * comma-separated list of `name=value` parameters whose values are tokens or quoted strings with `\` escapes.
 */

/** One authentication challenge. */
export interface Challenge {
  /** Lower-cased scheme, e.g. `basic`, `bearer`. */
  scheme: string;
  /** Parameters with lower-cased names (`realm`, `service`, `scope`, `error`, …). */
  params: Record<string, string>;
  /** A token68 value, if the challenge carried one instead of parameters. */
  token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68 = /[A-Za-z0-9._~+/-]/;

/**
 * Parses one or several `WWW-Authenticate` header values into challenges (unknown or malformed parts are skipped
 * rather than failing: the header comes from the network).
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap(parseOne);
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const ws = () => {
    while (s[i] === ' ' || s[i] === '\t') i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  const quoted = (): string => {
    i++; // opening quote
    let v = '';
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\' && i + 1 < s.length) i++;
      v += s[i++];
    }
    i++; // closing quote (or end)
    return v;
  };
  let current: Challenge | undefined;
  while (i < s.length) {
    ws();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const name = token();
    if (!name) {
      // Garbage: skip to the next comma.
      while (i < s.length && s[i] !== ',') i++;
      continue;
    }
    ws();
    if (current && s[i] === '=') {
      // name=value parameter of the current challenge.
      i++;
      ws();
      const value = s[i] === '"' ? quoted() : token();
      current.params[name.toLowerCase()] = value;
      continue;
    }
    // A new challenge: scheme, then a token68 or parameters.
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    const save = i;
    let t = '';
    while (i < s.length && TOKEN68.test(s[i]!)) t += s[i++];
    let eq = 0;
    while (s[i] === '=') {
      eq++;
      i++;
    }
    ws();
    if (t && (i >= s.length || s[i] === ',')) {
      // `Scheme token68` followed by the end or a comma (a `name=value` always has something after the `=`).
      current.token68 = t + '='.repeat(eq);
      continue;
    }
    i = save;
  }
  return out;
}
