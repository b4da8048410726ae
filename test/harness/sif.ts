/**
 * A small SIF (Singularity Image Format) file builder for tests, written from the format's description (sylabs/sif):
 * a 128-byte global header, a table of 48 descriptors of 585 bytes at offset 4096, and the data objects, each at
 * the next 4096-byte boundary, all little endian. Enough for `sif:` sources: a definition file and a squashfs
 * primary system partition (made with `mksquashfs`).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const HEADER_SIZE = 128;
const DESCRIPTOR_SIZE = 585;
const DESCRIPTORS = 48;
const DESCR_OFFSET = 4096;
const ALIGN = 4096;

export const SIF_DATA_DEFFILE = 0x4001;
export const SIF_DATA_PARTITION = 0x4004;
export const SIF_FS_SQUASH = 1;
export const SIF_PART_PRIMSYS = 2;
/** Header architecture codes. */
export const SIF_ARCH = { amd64: '02', arm64: '04' } as const;

/** One object of the file. */
export interface SifObjectInput {
  datatype: number;
  data: Buffer;
  /** For partitions. */
  partition?: { fstype: number; parttype: number; arch: string };
  name?: string;
}

/** Options of {@link writeSif}. */
export interface SifOptions {
  objects: SifObjectInput[];
  /** Header architecture code (`02` for amd64); default that of the primary partition, else `00`. */
  arch?: string;
  /** 16 bytes; default random. */
  uuid?: Buffer;
  /** Seconds since 1970; default 1700000000. */
  time?: number;
  /** Override header fields (for hostile-input tests). */
  patch?: (header: Buffer, descriptors: Buffer) => void;
}

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Writes a SIF file at `path`; returns its UUID in canonical form. */
export function writeSif(path: string, opts: SifOptions): string {
  const uuid = opts.uuid ?? randomBytes(16);
  const time = BigInt(opts.time ?? 1_700_000_000);
  const dataoff = align(DESCR_OFFSET + DESCRIPTORS * DESCRIPTOR_SIZE);
  const descriptors = Buffer.alloc(DESCRIPTORS * DESCRIPTOR_SIZE);
  const chunks: Buffer[] = [];
  let pos = dataoff;
  opts.objects.forEach((o, i) => {
    const d = descriptors.subarray(i * DESCRIPTOR_SIZE, (i + 1) * DESCRIPTOR_SIZE);
    const off = pos;
    d.writeInt32LE(o.datatype, 0);
    d[4] = 1;
    d.writeUInt32LE(i + 1, 5); // id
    d.writeUInt32LE(0xf0000001, 9); // default group
    d.writeUInt32LE(0, 13); // link
    d.writeBigInt64LE(BigInt(off), 17);
    d.writeBigInt64LE(BigInt(o.data.length), 25);
    d.writeBigInt64LE(BigInt(align(o.data.length)), 33);
    d.writeBigInt64LE(time, 41);
    d.writeBigInt64LE(time, 49);
    d.write(o.name ?? '', 73, 128, 'latin1');
    if (o.partition) {
      const extra = d.subarray(DESCRIPTOR_SIZE - 384);
      extra.writeInt32LE(o.partition.fstype, 0);
      extra.writeInt32LE(o.partition.parttype, 4);
      extra.write(o.partition.arch, 8, 3, 'latin1');
    }
    const padded = Buffer.alloc(align(o.data.length));
    o.data.copy(padded);
    chunks.push(padded);
    pos += padded.length;
  });
  const header = Buffer.alloc(HEADER_SIZE);
  header.write('#!/usr/bin/env run-singularity\n', 0, 'latin1');
  header.write('SIF_MAGIC\0', 32, 'latin1');
  header.write('01\0', 42, 'latin1');
  const primary = opts.objects.find((o) => o.partition?.parttype === SIF_PART_PRIMSYS);
  header.write(`${opts.arch ?? primary?.partition?.arch ?? '00'}\0`, 45, 'latin1');
  uuid.copy(header, 48);
  header.writeBigInt64LE(time, 64); // ctime
  header.writeBigInt64LE(time, 72); // mtime
  header.writeBigInt64LE(BigInt(DESCRIPTORS - opts.objects.length), 80); // dfree
  header.writeBigInt64LE(BigInt(DESCRIPTORS), 88); // dtotal
  header.writeBigInt64LE(BigInt(DESCR_OFFSET), 96); // descroff
  header.writeBigInt64LE(BigInt(DESCRIPTORS * DESCRIPTOR_SIZE), 104); // descrlen: the whole table
  header.writeBigInt64LE(BigInt(dataoff), 112); // dataoff
  header.writeBigInt64LE(BigInt(pos - dataoff), 120); // datalen
  opts.patch?.(header, descriptors);
  const gap = Buffer.alloc(DESCR_OFFSET - HEADER_SIZE);
  const gap2 = Buffer.alloc(dataoff - DESCR_OFFSET - descriptors.length);
  writeFileSync(path, Buffer.concat([header, gap, descriptors, gap2, ...chunks]));
  const h = uuid.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
