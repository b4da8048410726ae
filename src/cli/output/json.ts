import { write } from '../io.js';
import type { Writable } from 'node:stream';

/** Prints a value as skopeo does: Go's json.MarshalIndent with 4 spaces, then a newline. */
export async function printJson(out: Writable, value: unknown): Promise<void> {
  const { goJsonIndent } = await import('./go-json.js');
  await write(out, goJsonIndent(value) + '\n');
}
