/**
 * Duplicate keys make a JSON document ambiguous (JSON.parse keeps the last one, other parsers the first), so
 * signed documents must not have any. JSON.parse cannot tell; this scanner can.
 */

/**
 * Throws `makeError(key)` if any object in `json` has the same key twice. `json` must already be valid JSON
 * (parse it with JSON.parse first): the scanner does not validate the syntax.
 */
export function assertNoDuplicateKeys(json: string, makeError: (key: string) => Error): void {
  /** One key set per open container; `null` for arrays. */
  const stack: (Set<string> | null)[] = [];
  /** Whether the next string of the innermost object is a key. */
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const keys = stack.at(-1);
      if (expectKey && keys) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (keys.has(key)) throw makeError(key);
        keys.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack.at(-1) instanceof Set;
    }
  }
}
