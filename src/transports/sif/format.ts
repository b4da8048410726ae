/**
 * Reading the SIF container format (Singularity Image Format, sylabs/sif): a global header, a table of fixed-size
 * object descriptors, and the objects' data. Only what an image source needs is read: the image ID and primary
 * architecture from the header, the primary system partition (a squashfs file system) and the definition file.
 * Every offset and length is checked against the file before anything is read at it.
 *
 * Layout (little endian, packed): header — launch[32], magic[10] `SIF_MAGIC\0`, version[3], arch[3], id[16],
 * ctime, mtime, dfree, dtotal, descroff, descrlen, dataoff, datalen (int64 each); descriptor — datatype int32,
 * used bool, id, groupid, link (uint32), offset, size, sizeWithPadding, ctime, mtime, uid, gid (int64), name[128],
 * extra[384] (for partitions: fstype int32, parttype int32, arch[3]).
 */
import type { FileHandle } from 'node:fs/promises';
import { FerryError, ErrorCode } from '../../errors.js';

export const HEADER_SIZE = 128;
export const DESCRIPTOR_SIZE = 585;
/** More descriptors than any SIF file has (the default table holds 48): a larger count is refused. */
const MAX_DESCRIPTORS = 4096;

export const DATA_DEFFILE = 0x4001;
export const DATA_PARTITION = 0x4004;
export const FS_SQUASH = 1;
export const PART_PRIMSYS = 2;

/** Header architecture codes → Go's GOARCH (sylabs/sif). */
const ARCHES: Record<string, string> = {
  '01': '386',
  '02': 'amd64',
  '03': 'arm',
  '04': 'arm64',
  '05': 'ppc64',
  '06': 'ppc64le',
  '07': 'mips',
  '08': 'mipsle',
  '09': 'mips64',
  '10': 'mips64le',
  '11': 's390x',
  '12': 'riscv64',
};

/** One used descriptor. */
export interface SifObject {
  datatype: number;
  id: number;
  offset: number;
  size: number;
  /** For partitions: file system type, partition type. */
  fstype?: number;
  parttype?: number;
}

/** What ferry reads of a SIF file. */
export interface SifInfo {
  /** The image's UUID, canonical form (`xxxxxxxx-xxxx-…`). */
  id: string;
  /** GOARCH of the primary partition (`unknown` when the header names none). */
  arch: string;
  /** The header's modification time, in seconds since 1970. */
  modifiedAt: bigint;
  objects: SifObject[];
}

function invalid(what: string, why: string): FerryError {
  return new FerryError(ErrorCode.InvalidManifest, `${what}: not a valid SIF file: ${why}`);
}

function cstring(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z === -1 ? b.length : z).toString('latin1');
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function safeInt(v: bigint, what: string, field: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(what, `${field} out of range`);
  return Number(v);
}

async function readAt(fh: FileHandle, pos: number, len: number, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  const { bytesRead } = await fh.read(buf, 0, len, pos);
  if (bytesRead !== len) throw invalid(what, 'the file is truncated');
  return buf;
}

/**
 * Reads the header and descriptors of the SIF file open as `fh` (of `fileSize` bytes).
 * @throws FerryError(E_INVALID_MANIFEST) naming `what` for anything that is not a well-formed SIF file.
 */
export async function readSif(fh: FileHandle, fileSize: number, what: string): Promise<SifInfo> {
  if (fileSize < HEADER_SIZE) throw invalid(what, 'the file is too short');
  const h = await readAt(fh, 0, HEADER_SIZE, what);
  if (h.subarray(32, 42).toString('latin1') !== 'SIF_MAGIC\0') throw invalid(what, 'no SIF_MAGIC');
  const version = cstring(h.subarray(42, 45));
  if (version !== '01') throw invalid(what, `unsupported SIF version ${JSON.stringify(version)}`);
  const archCode = cstring(h.subarray(45, 48));
  const id = uuidString(h.subarray(48, 64));
  const dtotal = safeInt(h.readBigInt64LE(64 + 24), what, 'descriptor count');
  const descroff = safeInt(h.readBigInt64LE(64 + 32), what, 'descriptor offset');
  if (dtotal > MAX_DESCRIPTORS) throw invalid(what, `${dtotal} descriptors`);
  if (descroff + dtotal * DESCRIPTOR_SIZE > fileSize) throw invalid(what, 'the descriptor table runs past the end of the file');
  const table = dtotal === 0 ? Buffer.alloc(0) : await readAt(fh, descroff, dtotal * DESCRIPTOR_SIZE, what);
  const objects: SifObject[] = [];
  for (let i = 0; i < dtotal; i++) {
    const d = table.subarray(i * DESCRIPTOR_SIZE, (i + 1) * DESCRIPTOR_SIZE);
    if (d[4] === 0) continue; // unused
    const datatype = d.readInt32LE(0);
    const offset = safeInt(d.readBigInt64LE(17), what, 'object offset');
    const size = safeInt(d.readBigInt64LE(25), what, 'object size');
    if (offset + size > fileSize) throw invalid(what, `object ${d.readUInt32LE(5)} runs past the end of the file`);
    const o: SifObject = { datatype, id: d.readUInt32LE(5), offset, size };
    if (datatype === DATA_PARTITION) {
      const extra = d.subarray(DESCRIPTOR_SIZE - 384);
      o.fstype = extra.readInt32LE(0);
      o.parttype = extra.readInt32LE(4);
    }
    objects.push(o);
  }
  return { id, arch: ARCHES[archCode] ?? 'unknown', modifiedAt: h.readBigInt64LE(72), objects };
}

/**
 * containers/image's reading of a definition file: the `%environment` lines (trimmed, without blanks and `#`
 * comments) and the `%runscript` lines (trimmed), each section ending at the next line starting with `%`.
 * The image's command is `bash` when both are empty, else `/podman/runscript`, a script of `#!/bin/bash`, the
 * environment lines and the runscript lines.
 */
export function commandFromDeffile(deffile: string | undefined): { cmd: string[]; runscript?: string } {
  if (deffile === undefined) return { cmd: ['bash'] };
  const env: string[] = [];
  const run: string[] = [];
  let section: 'env' | 'run' | undefined;
  for (const raw of deffile.split(/\r?\n/)) {
    const s = raw.trim();
    if (section !== undefined && s.startsWith('%')) section = undefined;
    if (section === undefined) {
      if (s === '%environment') section = 'env';
      else if (s === '%runscript') section = 'run';
      continue;
    }
    if (section === 'env') {
      if (s !== '' && !s.startsWith('#')) env.push(s);
    } else {
      run.push(s);
    }
  }
  if (env.length === 0 && run.length === 0) return { cmd: ['bash'] };
  return { cmd: ['/podman/runscript'], runscript: `#!/bin/bash\n${[...env, ...run].map((l) => `${l}\n`).join('')}` };
}
