/**
 * The transport table of the copy conformance suite: how to name a fresh image in each transport and
 * which flags reach it, the same for ferry and skopeo (their flag names agree).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType } from '../../../src/manifest/media-types.js';
import type { TestRegistry } from '../../harness/registry.js';

/** Which side a flag is for: plain (`inspect`), source or destination (`copy`). */
export type Side = '' | 'src-' | 'dest-';

/** One transport under test. */
export interface ConformanceTransport {
  /** Test title label (`docker`, `docker(token)`, `oci`, …). */
  id: string;
  /** Can hold an index / manifest list (then pairs of two such transports copy a multi-arch image with `--all`). */
  holdsIndex: boolean;
  /** Whether a manifest of this media type is stored unchanged (same digest). */
  keeps(mediaType: string): boolean;
  /** Synthesizes manifests with uncompressed layers (docker-archive): compare config digests and diff IDs instead. */
  synthesizes: boolean;
  /** A new, unique reference, e.g. `oci:/tmp/…/7:t` (creates parent dirs as needed). */
  newRef(label: string): Promise<string>;
  /** Flags reaching this transport on one side (TLS, credentials), valid for ferry and skopeo. */
  flags(side: Side): string[];
}

/** Where the table lives. */
export interface TableContext {
  /** Scratch root (removed by the suite; containers-storage stores live here too). */
  root: string;
  /** `http` mode registry. */
  http: TestRegistry;
  /** `token` mode registry (omitted: no `docker(token)` row). */
  token?: TestRegistry;
  /** Include the `containers-storage:` row. */
  containersStorage: boolean;
}

const OCI_TYPES = new Set<string>([MediaType.OciManifest, MediaType.OciIndex]);
const any = () => true;

/** Builds the table. */
export function conformanceTransports(c: TableContext): ConformanceTransport[] {
  let n = 0;
  const fresh = async (label: string) => {
    const dir = join(c.root, `${++n}-${label}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  const slug = (label: string) => `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${++n}`;
  const none: ConformanceTransport['flags'] = () => [];
  const rows: ConformanceTransport[] = [
    {
      id: 'docker',
      holdsIndex: true,
      keeps: any,
      synthesizes: false,
      newRef: async (label) => `docker://${c.http.host}/conf/${slug(label)}:t`,
      flags: (side) => [`--${side}tls-verify=false`],
    },
  ];
  const token = c.token;
  if (token) {
    rows.push({
      id: 'docker(token)',
      holdsIndex: true,
      keeps: any,
      synthesizes: false,
      newRef: async (label) => `docker://${token.host}/conf/${slug(label)}:t`,
      flags: (side) => [`--${side}cert-dir`, token.certDir!, `--${side}creds`, `${token.username!}:${token.password!}`],
    });
  }
  rows.push(
    { id: 'oci', holdsIndex: true, keeps: (t) => OCI_TYPES.has(t), synthesizes: false, newRef: async (l) => `oci:${await fresh(l)}:t`, flags: none },
    {
      id: 'oci-archive',
      holdsIndex: true,
      keeps: (t) => OCI_TYPES.has(t),
      synthesizes: false,
      newRef: async (l) => `oci-archive:${join(await fresh(l), 'image.tar')}:t`,
      flags: none,
    },
    { id: 'dir', holdsIndex: true, keeps: any, synthesizes: false, newRef: async (l) => `dir:${await fresh(l)}`, flags: none },
    {
      id: 'docker-archive',
      holdsIndex: false,
      keeps: () => false,
      synthesizes: true,
      newRef: async (l) => `docker-archive:${join(await fresh(l), 'image.tar')}:localhost/conf/${slug(l)}:t`,
      flags: none,
    },
  );
  if (c.containersStorage) {
    rows.push({
      id: 'containers-storage',
      holdsIndex: false,
      keeps: any,
      synthesizes: false,
      newRef: async (l) => {
        const d = await fresh(l);
        return `containers-storage:[overlay@${join(d, 'G')}+${join(d, 'R')}]localhost/conf/${slug(l)}:t`;
      },
      flags: none,
    });
  }
  return rows;
}
