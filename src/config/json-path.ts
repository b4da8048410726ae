/**
 * Strict JSON for configuration files: syntax errors, duplicate keys and wrong shapes are reported with the JSON path
 * of the value at fault (`$.transports.docker["example.com/app"][0].keyPath`).
 */

/** A JSON path, one element per step: object keys and array indexes. */
export type JsonPath = readonly (string | number)[];

/** `$`, then `.key` for identifier-like keys, `["key"]` for others, `[n]` for indexes. */
export function formatJsonPath(path: JsonPath): string {
  return (
    '$' +
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : /^[A-Za-z_][A-Za-z0-9_-]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`))
      .join('')
  );
}

/** A problem at a place in a document. */
export class JsonPathError extends Error {
  constructor(
    readonly path: JsonPath,
    readonly reason: string,
  ) {
    super(`${formatJsonPath(path)}: ${reason}`);
  }
}

/**
 * Parses `text` as JSON and rejects any object with the same key twice (JSON.parse silently keeps the last one;
 * containers/image refuses them).
 * @throws JsonPathError for a syntax error (at `$`, with the parser's position) or a duplicate key (at its object).
 */
export function parseJsonNoDuplicates(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new JsonPathError([], `not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  scanDuplicates(text);
  return value;
}

/** One open container of the scanner: its path, and its keys so far (objects) or its next index (arrays). */
interface Frame {
  path: (string | number)[];
  keys: Set<string> | null;
  index: number;
  /** The key whose value comes next (objects). */
  pendingKey?: string;
}

/** Walks valid JSON text and throws at the first duplicate key, with the path of its object. */
function scanDuplicates(json: string): void {
  const stack: Frame[] = [];
  let expectKey = false;
  const childPath = (): (string | number)[] => {
    const top = stack.at(-1);
    if (!top) return [];
    return top.keys ? [...top.path, top.pendingKey ?? ''] : [...top.path, top.index];
  };
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (expectKey && top?.keys) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.keys.has(key)) throw new JsonPathError(top.path, `duplicate key ${JSON.stringify(key)}`);
        top.keys.add(key);
        top.pendingKey = key;
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      stack.push({ path: childPath(), keys: c === '{' ? new Set() : null, index: 0 });
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      const top = stack.at(-1);
      if (top && !top.keys) top.index++;
      expectKey = top?.keys instanceof Set;
    }
  }
}
