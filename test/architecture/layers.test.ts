import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../harness/cli.js';

/**
 * The layers of src/, lowest first. A module may import its own folder and any folder of a lower layer; never a
 * higher layer, nor another folder of its own layer (except the pairs in ALLOWED_SIDEWAYS).
 */
const LAYERS: ReadonlyArray<readonly string[]> = [
  ['errors.ts', 'version.ts', 'types'],
  ['util'],
  ['reference', 'tar', 'compression', 'config'],
  ['manifest'],
  ['registry', 'store', 'signature', 'image'],
  ['transports'],
  ['copy'],
  ['sync'],
  ['cli'],
];

/** Imports between folders of one layer that the design allows, as `from → to`. */
const ALLOWED_SIDEWAYS = new Set([
  // Signatures are stored on registries: the lookaside server over HTTP, sigstore attachments as registry artifacts.
  'signature → registry',
]);

/**
 * Inside transports/: each transport's folder imports its own files and transports/shared; shared/ imports no
 * transport, except the files that dispatch to every transport or archive format. The delegations the design makes
 * are the exceptions.
 */
const TRANSPORT_DELEGATIONS = new Set([
  // oci-archive unpacks and delegates to the OCI layout code, as containers/image does.
  'oci-archive → oci-layout',
  // The daemon's image API speaks the docker-archive format.
  'docker-daemon → docker-archive',
]);
const DISPATCHERS = new Set(['transports/shared/builtin-transports.ts', 'transports/shared/verify-archive.ts']);

const SRC = path.join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The relative module specifiers of a file: static imports and re-exports (type-only ones too) and dynamic imports. */
function relativeImports(text: string): string[] {
  const out: string[] = [];
  const re = /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"](\.[^'"]+)['"]|\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)|\bimport\s+['"](\.[^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

const layerOf = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i] as const)));

/** The top-level folder (or file) of src/ a path is in. */
const topOf = (rel: string) => rel.split('/')[0]!;

function violations(): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = path.relative(SRC, file).split(path.sep).join('/');
    const fromTop = topOf(from);
    const fromLayer = layerOf.get(fromTop);
    if (fromLayer === undefined) {
      out.push(`${from}: src/${fromTop} is in no layer of this test's table`);
      continue;
    }
    for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
      const to = path.relative(SRC, path.resolve(path.dirname(file), spec)).split(path.sep).join('/').replace(/\.js$/, '.ts');
      const toTop = topOf(to);
      if (toTop === fromTop) {
        if (fromTop === 'transports') {
          const problem = transportProblem(from, to);
          if (problem) out.push(`${from} → ${to}: ${problem}`);
        }
        continue;
      }
      const toLayer = layerOf.get(toTop);
      if (toLayer === undefined) out.push(`${from} → ${to}: outside src/ or in no layer`);
      else if (toLayer > fromLayer) out.push(`${from} → ${to}: imports a higher layer`);
      else if (toLayer === fromLayer && !ALLOWED_SIDEWAYS.has(`${fromTop} → ${toTop}`)) out.push(`${from} → ${to}: imports sideways`);
    }
  }
  return out;
}

function transportProblem(from: string, to: string): string | undefined {
  const fromDir = from.split('/')[1]!;
  const toDir = to.split('/')[1]!;
  // transports/registry.ts and the other files directly in transports/ belong to no single transport.
  if (!to.slice('transports/'.length).includes('/') || !from.slice('transports/'.length).includes('/')) return undefined;
  if (fromDir === toDir || toDir === 'shared') return undefined;
  if (fromDir === 'shared') return DISPATCHERS.has(from) ? undefined : 'shared code imports a transport';
  return TRANSPORT_DELEGATIONS.has(`${fromDir} → ${toDir}`) ? undefined : 'one transport imports another';
}

describe('architecture: layers', () => {
  it('parses the import forms src/ uses', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "import {\n  c,\n  type D,\n} from '../../c/d.js';",
      "export { e } from './e.js';",
      "export * from './f.js';",
      "const g = await import('../g.js');",
      "import './side-effect.js';",
      "import { parse } from 'yaml';",
    ].join('\n');
    expect(relativeImports(text)).to.deep.equal(['./a.js', '../b/b.js', '../../c/d.js', './e.js', './f.js', '../g.js', './side-effect.js']);
  });

  it('no module imports a higher layer, another folder of its layer, or another transport', () => {
    expect(violations()).to.deep.equal([]);
  });
});
