/**
 * Lock files compatible with containers/storage's pkg/lockfile: a whole-file fcntl(2) record lock
 * (shared for readers, exclusive for writers) on `*.lock` files, and the 64-byte "last write" token a
 * writer stores in the file so that other processes know to reload what the lock protects.
 *
 * fcntl locks belong to the process: one file descriptor per lock file is kept open for the life of
 * the process (closing any descriptor of the file would drop the lock), and holders inside this
 * process are coordinated by a small reader/writer queue.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError, ErrorCode } from '../errors.js';
import { storeNative } from './native.js';

/** Releases a held lock. For write locks, `modified` (default true) writes a new last-write token first. */
export type Release = (opts?: { modified?: boolean }) => void;

interface Waiter {
  kind: 'read' | 'write';
  grant: () => void;
}

let counter = 0n;

/** A new last-write token: time (ns, LE), counter (LE), pid (LE), random — containers/storage's layout. */
export function newLastWriteToken(): Buffer {
  const b = Buffer.alloc(64);
  b.writeBigUInt64LE(BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n, 0);
  counter += 1n;
  b.writeBigUInt64LE(counter, 8);
  b.writeUInt32LE(process.pid >>> 0, 16);
  randomBytes(44).copy(b, 20);
  return b;
}

/** One lock file, shared by every holder in this process. Use {@link lockFileFor}. */
export class LockFile {
  readonly path: string;
  private fd: number | undefined;
  private readers = 0;
  private writer = false;
  private readonly queue: Waiter[] = [];
  private osKind: 0 | 1 | 2 = 0;
  private readOnly = false;

  constructor(path: string) {
    this.path = path;
  }

  private openFd(): number {
    if (this.fd === undefined) {
      try {
        mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
        // Never through a symlink, and only a regular file: a writer stores its token at the start of the file, which
        // must not land in a file outside the store that someone linked here (nor wait on a FIFO).
        const flags = constants.O_NOFOLLOW | constants.O_NONBLOCK;
        try {
          this.fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT | flags, 0o644);
        } catch (e) {
          // A store we may only read (another user's, a read-only mount): shared locks need only read access.
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw e;
          this.fd = openSync(this.path, constants.O_RDONLY | flags);
          this.readOnly = true;
        }
        if (!fstatSync(this.fd).isFile()) {
          closeSync(this.fd);
          this.fd = undefined;
          throw new Error('not a regular file');
        }
      } catch (e) {
        throw new FerryError(ErrorCode.Io, `opening lock file ${this.path}: ${(e as Error).message}`, { cause: e });
      }
    }
    return this.fd;
  }

  /** Takes the fcntl lock of `kind`, polling (so the event loop never blocks) until it is free. */
  private async osLock(kind: 1 | 2, signal?: AbortSignal): Promise<void> {
    const fd = this.openFd();
    if (kind === 2 && this.readOnly) {
      throw new FerryError(ErrorCode.Io, `cannot lock ${this.path} for writing: the store is read-only for this user`);
    }
    const native = storeNative();
    let delay = 1;
    for (;;) {
      if (native.setLock(fd, kind)) {
        this.osKind = kind;
        return;
      }
      if (signal?.aborted) throw new FerryError(ErrorCode.Aborted, `waiting for lock ${this.path}: aborted`, { cause: signal.reason });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  private osUnlock(): void {
    if (this.fd !== undefined && this.osKind !== 0) {
      storeNative().setLock(this.fd, 0);
      this.osKind = 0;
    }
  }

  /**
   * Acquires the lock: shared (`read`) or exclusive (`write`), within this process and across processes.
   * @throws FerryError(E_ABORTED) when `signal` aborts while waiting, E_IO when the file cannot be opened.
   */
  async lock(kind: 'read' | 'write', opts: { signal?: AbortSignal } = {}): Promise<Release> {
    // In-process admission: readers share, writers are alone; FIFO so writers do not starve.
    if (kind === 'read' ? this.writer || this.queue.length > 0 : this.writer || this.readers > 0) {
      await new Promise<void>((resolve) => this.queue.push({ kind, grant: resolve }));
    } else if (kind === 'read') this.readers++;
    else this.writer = true;
    try {
      if (kind === 'write') await this.osLock(2, opts.signal);
      else if (this.osKind === 0) await this.osLock(1, opts.signal);
    } catch (e) {
      this.leave(kind);
      throw e;
    }
    let released = false;
    return (ro = {}) => {
      if (released) return;
      released = true;
      if (kind === 'write' && ro.modified !== false && this.fd !== undefined && !this.readOnly) {
        try {
          writeSync(this.fd, newLastWriteToken(), 0, 64, 0);
        } catch {
          /* a token that cannot be written only costs other processes a reload they would skip */
        }
      }
      this.leave(kind);
    };
  }

  private leave(kind: 'read' | 'write'): void {
    if (kind === 'write') this.writer = false;
    else this.readers--;
    if (!this.writer && this.readers === 0) this.osUnlock();
    // Admit waiters: one writer, or every reader at the head of the queue.
    while (this.queue.length > 0 && !this.writer) {
      const next = this.queue[0]!;
      if (next.kind === 'write') {
        if (this.readers > 0) break;
        this.queue.shift();
        this.writer = true;
        next.grant();
        break;
      }
      this.queue.shift();
      this.readers++;
      next.grant();
    }
  }

  /** Closes the descriptor when nobody holds the lock (tests; normally kept for the process's life). */
  closeIfIdle(): void {
    if (!this.writer && this.readers === 0 && this.queue.length === 0 && this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

const LOCKS = new Map<string, LockFile>();

/** The process-wide {@link LockFile} for `path` (created on first use). */
export function lockFileFor(path: string): LockFile {
  let l = LOCKS.get(path);
  if (!l) {
    l = new LockFile(path);
    LOCKS.set(path, l);
  }
  return l;
}
