/**
 * Layers written into the archive's temporary file while they arrive, instead of being staged and copied at commit.
 *
 * Layers are placed in the archive one at a time, in the order their `putBlob` started. The layer at the head
 * streams straight into the archive: its 512-byte tar header is reserved, the data written, padded to 512, and the
 * header written in place once the size and diff ID are known. Layers arriving while another one holds the archive
 * are staged in a file; when their turn comes, their staged bytes are copied after the previous entry and they
 * continue straight into the archive (or, if complete, are only copied). A layer that fails is cut off again
 * (the file truncated to where its header would have started). Nothing is read back: at commit the destination
 * appends the rest of the archive after {@link LayerSpool.end}.
 *
 * When the sizes of the first layers are known in advance ({@link LayerSpool.plan}), each of them gets its place
 * reserved at once — header, data, padding — and streams straight to it, all in parallel, with nothing staged. A
 * layer that turns out bigger than planned leaves its place (its bytes so far move to a staging file and it is
 * placed after the planned ones); one that ends smaller, or fails, leaves a gap. Either way the file's layers are
 * then no longer {@link LayerSpool.contiguous}, and the destination writes the archive anew at commit.
 */
import { ftruncate } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import type { LayerPlan } from '../../types/image.js';
import { AtomicFileSink } from '../../util/atomic.js';
import { WritebackPacer } from '../../util/writeback.js';
import { writevAll } from '../../util/write-all.js';
import { parseDigest } from '../../util/digest.js';
import { BLOCK, encodeHeader } from '../../tar/header.js';

const COPY_CHUNK = 4 << 20;
const BATCH = 1 << 20;

/** Writes `bufs` at `pos` of `fd`, all of them (continuing after short writes). */
export function writevAt(fd: number, bufs: Buffer[], pos: number): Promise<void> {
  return writevAll(fd, bufs, pos);
}

/** Zero bytes after `size` bytes of data up to the next tar block. */
function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The tar header of a layer entry (`<hex>.tar`, as skopeo names them). */
function layerHeader(digest: string, size: number): Buffer {
  const header = encodeHeader({ name: `${parseDigest(digest).hex}.tar`, mode: 0o444, size, type: '0' });
  if (header.length !== BLOCK) throw new FerryError(ErrorCode.Io, `docker-archive: unexpected header size for ${digest}`);
  return header;
}

/** A place reserved for a layer whose written size was planned: header at `start`, `size` bytes of data after it. */
interface Reservation {
  start: number;
  size: number;
  /** Whether a layer began writing into it. */
  claimed: boolean;
}

/** Where a placed layer's data is in the archive's temp file. */
export interface PlacedLayer {
  digest: string;
  /** Offset of the data (after its header). */
  offset: number;
  size: number;
}

type Outcome = { ok: true; digest: string; size: number } | { ok: false };

/** One layer on its way into the archive. */
class SpoolEntry {
  /** Bytes written to the staging file. */
  staged = 0;
  /** Bytes written straight into the archive. */
  direct = 0;
  mode: 'stage' | 'direct' | 'reserved' = 'stage';
  stageFh: FileHandle | undefined;
  /** Serializes this entry's writes and the switch to direct mode. */
  lock: Promise<void> = Promise.resolve();
  readonly settled: Promise<Outcome>;
  settle!: (o: Outcome) => void;
  /** Resolved once the entry is in the archive or dropped, and its staging file gone. */
  readonly disposed: Promise<void>;
  dispose!: () => void;

  constructor(
    readonly stagePath: string,
    /** Position of the layer among those announced (see {@link LayerSpool.announce}), if known. */
    readonly rank: number | undefined,
  ) {
    this.settled = new Promise((r) => (this.settle = r));
    this.disposed = new Promise((r) => (this.dispose = r));
  }
}

/** See the module comment. One per destination; the temp archive is created at the first layer. */
export class LayerSpool {
  /** The archive's temporary file (opened at the first layer), renamed into place by the destination's commit. */
  sink: AtomicFileSink | undefined;
  private opening: Promise<AtomicFileSink> | undefined;
  /** Next free byte of the archive. */
  pos = 0;
  /** Layers in the archive, in order. */
  readonly placed: PlacedLayer[] = [];
  private readonly queue: SpoolEntry[] = [];
  private pump: Promise<void> | undefined;
  private error: unknown;
  private stopped = false;
  private readonly active = new Set<SpoolEntry>();
  private readonly copyBuf = Buffer.allocUnsafe(COPY_CHUNK);
  /** Source digests in the order the layers were announced (manifest order), and the next rank to place. */
  private readonly ranks = new Map<string, number>();
  private nextRank = 0;
  private ending = false;
  /** Starts the archive's writeback early (its final fsync then has little left to do). */
  private writeback: WritebackPacer | undefined;
  /** Places reserved by {@link plan}, by source digest. */
  private readonly reserved = new Map<string, Reservation>();
  /** The reserved layers still being written or finished. */
  private readonly finishing = new Set<Promise<void>>();
  /**
   * Whether the layers in the file follow each other without gaps, in the order placed (false once a planned
   * size was wrong or a planned layer failed or never came): only then may the rest be appended after {@link pos}.
   */
  contiguous = true;

  /**
   * @param archivePath the archive's final path (for messages)
   * @param tempDir where the archive's temporary file is created (the destination's owned staging directory, so a
   *   killed run's file goes with it; see src/util/owned-temp-dir.ts); none: beside `archivePath`
   */
  constructor(
    private readonly archivePath: string,
    private readonly tempDir?: string,
  ) {}

  /**
   * Records that the layer with source digest `digest` is about to be copied (the copy engine asks
   * `tryReusingBlob` for the layers in manifest order). Layers whose `putBlob` names such a digest are placed
   * in that order: one that arrives early is staged until those before it are in the archive.
   */
  announce(digest: string): void {
    if (!this.ranks.has(digest)) this.ranks.set(digest, this.ranks.size);
  }

  /**
   * Reserves the places of the layers whose written sizes are known, in manifest order, up to the first unknown
   * one (the later ones are placed as they come, in this order). Only before the first layer begins.
   */
  plan(layers: LayerPlan[]): void {
    if (this.opening || this.queue.length > 0 || this.active.size > 0 || this.ranks.size > 0) return;
    for (const l of layers) this.announce(l.digest);
    for (const l of layers) {
      if (l.writtenSize === undefined || l.writtenSize < 0 || this.reserved.has(l.digest)) break;
      this.reserved.set(l.digest, { start: this.pos, size: l.writtenSize, claimed: false });
      this.pos += BLOCK + l.writtenSize + padding(l.writtenSize);
      this.nextRank++;
    }
  }

  /** The entry to place next, or undefined to wait for another arrival (or for {@link end}). */
  private pick(): SpoolEntry | undefined {
    if (this.queue.length === 0) return undefined;
    let best = 0;
    for (let i = 0; i < this.queue.length; i++) {
      const r = this.queue[i]!.rank;
      if (r === undefined) return this.queue.splice(i, 1)[0];
      if (r < this.queue[best]!.rank!) best = i;
    }
    if (this.queue[best]!.rank !== this.nextRank && !this.ending) return undefined;
    return this.queue.splice(best, 1)[0];
  }

  private ensureSink(): Promise<AtomicFileSink> {
    // No abort signal on the sink: its descriptor is closed only once nothing writes to it (end/stop).
    this.opening ??= AtomicFileSink.open(this.tempDir !== undefined ? { dir: this.tempDir } : this.archivePath).then((s) => {
      this.sink = s;
      this.writeback = new WritebackPacer(sinkFd(s));
      return s;
    });
    return this.opening;
  }

  /** Writes `bufs` at `pos` of the archive, keeping its writeback going. */
  private async put(bufs: Buffer[], pos: number): Promise<void> {
    await writevAt(this.fd, bufs, pos);
    this.writeback?.wrote(bufs.reduce((n, b) => n + b.length, 0));
  }

  private get fd(): number {
    return sinkFd(this.sink!);
  }

  /**
   * Starts a layer: returns the Writable its bytes go to (staged or into the archive), `done`, to call once the
   * bytes are complete and verified (with the layer's digest), and `fail`, to call if they are not: it resolves
   * when the layer's bytes are gone (staging file removed, or cut off the archive).
   */
  async begin(stagePath: string, origin?: string): Promise<{ sink: Writable; done: (r: { digest: string; size: number }) => void; fail: () => Promise<void> }> {
    if (this.stopped) throw new FerryError(ErrorCode.Io, 'docker-archive: destination closed');
    await this.ensureSink();
    const r = origin === undefined ? undefined : this.reserved.get(origin);
    const reserved = r !== undefined && !r.claimed;
    const e = new SpoolEntry(stagePath, reserved || origin === undefined ? undefined : this.ranks.get(origin));
    this.active.add(e);
    if (reserved) {
      r.claimed = true;
      e.mode = 'reserved';
      this.track(this.finishReserved(e, r));
    } else {
      this.queue.push(e);
      this.kick();
    }
    const sink = new Writable({
      highWaterMark: BATCH,
      writev: (chunks, cb) => {
        const bufs = chunks.map((c) => c.chunk as Buffer);
        const p = e.lock.then(() => (e.mode === 'reserved' ? this.writeReserved(e, r!, bufs) : this.write(e, bufs)));
        e.lock = p.catch(() => {});
        p.then(() => cb(), cb);
      },
    });
    const fail = async (): Promise<void> => {
      e.settle({ ok: false });
      const i = this.queue.indexOf(e);
      if (i >= 0) {
        // Not its turn yet: drop it here.
        this.queue.splice(i, 1);
        await e.lock;
        await this.disposeEntry(e);
      }
      await e.disposed;
    };
    return { sink, done: (r) => e.settle({ ok: true, ...r }), fail };
  }

  /** Writes into a reserved place; a layer growing past it leaves it for staging (see the module comment). */
  private async writeReserved(e: SpoolEntry, r: Reservation, bufs: Buffer[]): Promise<void> {
    if (this.stopped) throw new FerryError(ErrorCode.Io, 'docker-archive: destination closed');
    const n = bufs.reduce((s, b) => s + b.length, 0);
    if (e.direct + n <= r.size) {
      await this.put(bufs, r.start + BLOCK + e.direct);
      e.direct += n;
      return;
    }
    this.contiguous = false;
    e.stageFh = await open(e.stagePath, 'wx+', 0o600);
    // The bytes written so far move to the staging file (read through a second descriptor: the sink's is write-only).
    // (Its own buffer: the pump may be copying another entry with copyBuf meanwhile.)
    const archive = await open(this.sink!.tempPath, 'r');
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(1, e.direct)));
    try {
      for (let at = 0; at < e.direct; ) {
        const n = Math.min(buf.length, e.direct - at);
        const { bytesRead } = await archive.read(buf, 0, n, r.start + BLOCK + at);
        if (bytesRead <= 0) throw new FerryError(ErrorCode.Io, `${this.sink!.tempPath}: unexpected end of file`);
        await e.stageFh.write(buf, 0, bytesRead, at);
        at += bytesRead;
      }
    } finally {
      await archive.close();
    }
    e.staged = e.direct;
    e.direct = 0;
    e.mode = 'stage';
    this.queue.push(e);
    this.kick();
    await this.write(e, bufs);
  }

  /** Once a reserved layer is complete: its padding and header (or, if it failed, a gap); then its entry goes. */
  private async finishReserved(e: SpoolEntry, r: Reservation): Promise<void> {
    const o = await e.settled;
    await e.lock;
    if (e.mode !== 'reserved') return; // it left its place: the pump places it
    try {
      if (this.stopped) return;
      if (!o.ok) {
        this.contiguous = false;
        return;
      }
      if (e.direct !== o.size) throw new FerryError(ErrorCode.Io, `docker-archive: layer ${o.digest}: wrote ${e.direct} of ${o.size} bytes`);
      if (o.size !== r.size) this.contiguous = false; // smaller than planned: a gap after it
      const pad = padding(o.size);
      if (pad > 0) await writevAt(this.fd, [Buffer.alloc(pad)], r.start + BLOCK + o.size);
      await writevAt(this.fd, [layerHeader(o.digest, o.size)], r.start);
      this.placed.push({ digest: o.digest, offset: r.start + BLOCK, size: o.size });
    } finally {
      await this.disposeEntry(e);
    }
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => {
      this.error ??= err;
    });
    this.finishing.add(t);
    void t.finally(() => this.finishing.delete(t));
  }

  private async write(e: SpoolEntry, bufs: Buffer[]): Promise<void> {
    if (this.stopped) throw new FerryError(ErrorCode.Io, 'docker-archive: destination closed');
    const n = bufs.reduce((s, b) => s + b.length, 0);
    if (e.mode === 'direct') {
      await this.put(bufs, this.pos);
      this.pos += n;
      e.direct += n;
    } else {
      e.stageFh ??= await open(e.stagePath, 'wx+', 0o600);
      await writevAll(e.stageFh, bufs, e.staged);
      e.staged += n;
    }
  }

  /** Copies staged bytes [from, to) of `e` to the end of the archive. */
  private async copyStaged(e: SpoolEntry, from: number, to: number): Promise<void> {
    for (let at = from; at < to; ) {
      const { bytesRead } = await e.stageFh!.read(this.copyBuf, 0, Math.min(COPY_CHUNK, to - at), at);
      if (bytesRead <= 0) throw new FerryError(ErrorCode.Io, `${e.stagePath}: unexpected end of file`);
      await this.put([this.copyBuf.subarray(0, bytesRead)], this.pos);
      this.pos += bytesRead;
      at += bytesRead;
    }
  }

  private pickable(): boolean {
    return this.queue.some((e) => e.rank === undefined || e.rank === this.nextRank);
  }

  /** Starts placing entries if none is being placed and one can be. */
  private kick(): void {
    if (this.pump || this.stopped || this.error !== undefined) return;
    if (!(this.ending ? this.queue.length > 0 : this.pickable())) return;
    const p = (async () => {
      await null; // `this.pump` is set before the loop runs
      try {
        for (let e = this.pick(); e && !this.stopped; e = this.pick()) await this.place(e);
      } catch (err) {
        this.error = err;
      }
    })();
    this.pump = p;
    void p.finally(() => {
      if (this.pump === p) this.pump = undefined;
      this.kick();
    });
  }

  /** Puts `e` at the end of the archive (or nothing, if it fails). */
  private async place(e: SpoolEntry): Promise<void> {
    const start = this.pos;
    this.pos += BLOCK; // the header, written once the size and digest are known
    let copied = 0;
    try {
      // Catch up without holding the entry up, then switch it to direct writes.
      while (copied < e.staged) {
        const to = e.staged;
        await this.copyStaged(e, copied, to);
        copied = to;
      }
      const sw = e.lock.then(async () => {
        if (this.stopped) return;
        await this.copyStaged(e, copied, e.staged);
        copied = e.staged;
        e.mode = 'direct';
        await e.stageFh?.close();
        e.stageFh = undefined;
      });
      e.lock = sw.catch(() => {});
      await sw;
      const o = await e.settled;
      await e.lock;
      if (this.stopped) return;
      if (!o.ok) {
        await new Promise<void>((res, rej) => ftruncate(this.fd, start, (err) => (err ? rej(err) : res())));
        this.pos = start;
        return;
      }
      if (copied + e.direct !== o.size) throw new FerryError(ErrorCode.Io, `docker-archive: layer ${o.digest}: wrote ${copied + e.direct} of ${o.size} bytes`);
      const pad = padding(o.size);
      if (pad > 0) await writevAt(this.fd, [Buffer.alloc(pad)], this.pos);
      this.pos += pad;
      await writevAt(this.fd, [layerHeader(o.digest, o.size)], start);
      this.placed.push({ digest: o.digest, offset: start + BLOCK, size: o.size });
      if (e.rank !== undefined) this.nextRank = Math.max(this.nextRank, e.rank + 1);
    } finally {
      await this.disposeEntry(e);
    }
  }

  private async disposeEntry(e: SpoolEntry): Promise<void> {
    await e.stageFh?.close().catch(() => {});
    e.stageFh = undefined;
    this.active.delete(e);
    await rm(e.stagePath, { force: true }).catch(() => {});
    e.dispose();
  }

  /**
   * Waits until every started layer is in the archive (or dropped because it failed).
   * @throws what broke the archive (E_IO).
   */
  async end(): Promise<void> {
    this.ending = true;
    while (this.finishing.size > 0) await Promise.all([...this.finishing]);
    this.kick();
    while (this.pump) await this.pump;
    await this.writeback?.drain();
    if (this.error !== undefined) throw this.error;
    if ([...this.reserved.values()].some((r) => !r.claimed)) this.contiguous = false;
    this.placed.sort((a, b) => a.offset - b.offset);
  }

  /** Stops writing to the archive (for close/abort): afterwards nothing writes to its descriptor. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const e of this.active) e.settle({ ok: false });
    while (this.finishing.size > 0) await Promise.all([...this.finishing]);
    while (this.pump) await this.pump;
    for (const e of [...this.active]) {
      await e.lock;
      await this.disposeEntry(e);
    }
    await this.writeback?.drain();
  }
}

/** A Writable appending at `pos` of `fd` with positional writes, batched (for the entries written at commit). */
export function positionalWriter(fd: number, pos: number): Writable {
  let at = pos;
  return new Writable({
    highWaterMark: BATCH,
    writev: (chunks, cb) => {
      const bufs = chunks.map((c) => c.chunk as Buffer);
      writevAt(fd, bufs, at).then(() => {
        at += bufs.reduce((n, b) => n + b.length, 0);
        cb();
      }, cb);
    },
  });
}

/** The open descriptor of `sink`'s temporary file (opened: AtomicFileSink.open waits for it). */
export function sinkFd(sink: AtomicFileSink): number {
  return (sink.stream as unknown as { fd: number }).fd;
}
