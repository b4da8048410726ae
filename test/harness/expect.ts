/** Small assertion helpers shared by the tests. */
import { expect } from 'chai';
import { FerryError } from '../../src/errors.js';

/** Awaits `p`, asserts it rejects with a FerryError, and returns that error (for code/message checks). */
export async function rejection(p: Promise<unknown>): Promise<FerryError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(FerryError);
    return e as FerryError;
  }
  throw new Error('expected a rejection');
}

/** Calls `fn`, asserts it throws a FerryError, and returns that error. */
export function errorOf(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(FerryError);
    return e as FerryError;
  }
  throw new Error('expected an error');
}

/** Reads a whole stream into one buffer (small test data only). */
export async function readAll(s: NodeJS.ReadableStream | AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s as AsyncIterable<unknown>) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** A CLI failure as ferry reports it: exit status 1, nothing on stdout, exactly one `Error: …` line on stderr matching `pattern`. */
export function expectOneLineError(r: { code: number; stdout?: string; stderr: string }, pattern: RegExp): void {
  expect(r.code, r.stderr).to.equal(1);
  if (r.stdout !== undefined) expect(r.stdout).to.equal('');
  expect(r.stderr).to.match(/^Error: [^\n]+\n$/);
  expect(r.stderr).to.match(pattern);
}
