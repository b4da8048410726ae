/**
 * The copy engine (src/copy, src/sync, src/image) talks to transports only through the contracts in src/types:
 * it never branches on a transport's name, and never casts its way into another module's objects (`as unknown as`,
 * `as { field?: … }`).
 * What a transport is like is a property it declares (`DestinationProperties`, `SourceProperties`, optional methods).
 */
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ENGINE = ['src/copy', 'src/sync', 'src/image'];

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

/** The code of a source file without its comments (a comment may name what the code must not do). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:])\/\/.*$/gm, '$1');
}

const NAME = String.raw`[\w$.?!\]\[()]*transport\??\.name\b`;
const RULES: Array<{ what: string; re: RegExp }> = [
  { what: 'compares a transport name', re: new RegExp(String.raw`${NAME}\s*[!=]==?|[!=]==?\s*${NAME}`) },
  { what: 'switches on a transport name', re: new RegExp(String.raw`switch\s*\(\s*${NAME}`) },
  { what: 'looks a transport name up in a list', re: new RegExp(String.raw`\.(?:includes|indexOf|startsWith|has)\(\s*${NAME}`) },
  { what: 'keeps a transport name to compare it elsewhere', re: new RegExp(String.raw`\b(?:const|let|var)\s+[\w$]+\s*=\s*${NAME}\s*;|\{\s*name\s*(?::\s*[\w$]+\s*)?\}\s*=\s*[\w$.?]*transport\b`) },
  { what: 'casts through unknown', re: /\bas\s+unknown\s+as\b/ },
  { what: 'casts to an ad-hoc shape to read fields no contract declares', re: /\bas\s+(?:Partial<[\w$]+>|\{[^}]*\?\s*:)/ },
];

/** `file:line: what` for every line of `text` that breaks a rule. */
function violations(file: string, text: string): string[] {
  const out: string[] = [];
  code(text)
    .split('\n')
    .forEach((line, i) => {
      for (const r of RULES) if (r.re.test(line)) out.push(`${file}:${i + 1}: ${r.what}: ${line.trim()}`);
    });
  return out;
}

describe('architecture: the engine and the transports', () => {
  it('the rules catch what they are about (and not comments)', () => {
    const caught = (s: string) => violations('x.ts', s).length;
    expect(caught(`  return src.transport.name === 'docker';`)).to.equal(1);
    expect(caught(`  if ('oci' !== ref.transport.name) return;`)).to.equal(1);
    expect(caught(`  switch (dest.reference.transport.name) {`)).to.equal(1);
    expect(caught(`  if (['oci', 'dir'].includes(ref.transport.name)) x();`)).to.equal(1);
    expect(caught(`  const name = dest.transport.name;`)).to.equal(1);
    expect(caught(`  const { name } = ref.transport;`)).to.equal(1);
    expect(caught(`  const r = ref as unknown as { path: string };`)).to.equal(1);
    expect(caught(`  const name = (ref as { name?: { digest?: unknown } }).name;`)).to.equal(1);
    expect(caught(`  return typeof (dest as Partial<Adopter>).adopt === 'function';`)).to.equal(1);
    expect(caught(`  check({ transport: src.transport.name }); // not compared`)).to.equal(0);
    expect(caught(`  // never: ref.transport.name === 'docker'`)).to.equal(0);
    expect(caught(`  /* no \`as unknown as\` casts */ f();`)).to.equal(0);
  });

  it('the engine never branches on a transport name nor casts its way into a transport', () => {
    const files = ENGINE.flatMap((d) => sources(join(ROOT, d)));
    expect(files.length, 'engine sources found').to.be.greaterThan(10);
    const found = files.flatMap((f) => violations(relative(ROOT, f), readFileSync(f, 'utf8')));
    expect(found, found.join('\n')).to.deep.equal([]);
  });
});
