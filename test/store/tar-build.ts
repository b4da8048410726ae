/**
 * Test-only tar builder covering every entry type a layer can hold (files, dirs, symlinks, hardlinks,
 * devices, FIFOs), ownership, modes, mtimes and PAX records (long names, xattrs), so that layer
 * application and tar-split round trips can be tested, including hostile archives.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/** One entry. */
export interface Entry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  data?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
  /** A PAX `mtime` record (e.g. fractional seconds), on top of the header's whole seconds. */
  paxMtime?: string;
}

const FLAGS = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(v: number, width: number): string {
  return v.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, flag: string, size: number, e: Entry): Buffer {
  const h = Buffer.alloc(512);
  Buffer.from(name).subarray(0, 100).copy(h, 0);
  h.write(octal(e.mode ?? (flag === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(e.mtime ?? 1704067200, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(flag, 156, 'ascii');
  if (e.linkname) Buffer.from(e.linkname).subarray(0, 100).copy(h, 157);
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(e.devmajor ?? 0, 8), 329, 'ascii');
  h.write(octal(e.devminor ?? 0, 8), 337, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** The tar bytes of `entries` (PAX headers where needed), with end blocks and `trailing` extra zero bytes. */
export function buildTar(entries: Entry[], opts: { trailing?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const pax: Buffer[] = [];
    if (Buffer.byteLength(e.name) > 100) pax.push(paxRecord('path', Buffer.from(e.name)));
    if (e.paxMtime !== undefined) pax.push(paxRecord('mtime', Buffer.from(e.paxMtime)));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) pax.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
    if (pax.length > 0) {
      const body = Buffer.concat(pax);
      parts.push(header('PaxHeaders/x', 'x', body.length, { name: 'PaxHeaders/x' }), body, pad(body.length));
    }
    parts.push(header(e.name, FLAGS[type], data.length, e), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024 + (opts.trailing ?? 0)));
  return Buffer.concat(parts);
}

/** sha256 digest string of bytes. */
export function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** gzip of bytes (deterministic). */
export function gzip(b: Buffer): Buffer {
  return gzipSync(b);
}
