/**
 * What one store transaction changed, so that a failed commit puts the store back as it was: the files it
 * replaced or created (records, image big data) with their earlier content, the directories it created and the
 * layers it moved into place. The transaction holds the layers and images write locks from its first change to
 * the end of {@link UndoLog.undo}, so nothing else can have come to use what is taken away.
 *
 * Undo order, the reverse of a commit's, so that a process killed in the middle of the undo never leaves a record
 * naming what is gone: images.json first (no image names a new layer any more), then the new layers are marked
 * incomplete in layers.json (whoever next takes the layers lock for writing finishes removing them, see
 * records.ts), then the other files (image big data), the content of the new layers, layers.json as it was, and the
 * new directories. A kill in the middle can leave directories and files no record names, or big data of an image
 * that was there before not yet put back.
 */
import { constants } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { FerryError, ErrorCode } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { readBoundedHandle } from '../util/bounded-read.js';
import { MAX_BIG_DATA_BYTES, MAX_RECORDS_BYTES } from './records.js';

/** What a saved file is, which decides when {@link UndoLog.undo} puts it back. */
export type SavedRole = 'data' | 'images' | 'layers';

interface SavedFile {
  /** The earlier content, or undefined when there was no file. */
  data: Buffer | undefined;
  mode: number;
  role: SavedRole;
}

/** The undo log of one transaction (see the module comment). */
export class UndoLog {
  private readonly files = new Map<string, SavedFile>();
  private readonly dirs: string[] = [];
  private readonly layers: string[] = [];

  /**
   * Records what `path` holds now, the first time the transaction is about to replace or create it; `role` says
   * whether it is images.json, layers.json or other data (image big data). The earlier content is read with the
   * bound the store reads that kind of file with.
   * @throws FerryError(E_TOO_LARGE) naming the file when it is larger (it could not be put back), E_IO.
   */
  async saveFile(path: string, role: SavedRole = 'data'): Promise<void> {
    if (this.files.has(path)) return;
    let saved: SavedFile = { data: undefined, mode: 0, role };
    let fh: FileHandle | undefined;
    try {
      // a symlink is not followed, a FIFO not waited on: only regular files are ever written here (records, big
      // data), anything else is left to the write to refuse
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = await fh.stat();
      if (st.isFile()) {
        const limit = role === 'data' ? MAX_BIG_DATA_BYTES : MAX_RECORDS_BYTES;
        saved = { data: await readBoundedHandle(fh, { limit, what: path }), mode: st.mode & 0o7777, role };
      }
    } catch (e) {
      if (e instanceof FerryError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ELOOP') throw new FerryError(ErrorCode.Io, `reading ${path}: ${(e as Error).message}`, { cause: e });
    } finally {
      await fh?.close().catch(() => {});
    }
    this.files.set(path, saved);
  }

  /** Creates `dir` (not its parents, which must exist), recording it when it was not there. */
  async makeDir(dir: string, mode: number): Promise<void> {
    try {
      await mkdir(dir, { mode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw e;
    }
    this.dirs.push(dir);
  }

  /** Records a layer the transaction is moving into place (before the move, so a half-made one is removed too). */
  layerMade(id: string): void {
    this.layers.push(id);
  }

  /**
   * Puts everything back, without an abort signal (the undo of an aborted commit must run to its end), in the
   * order the module comment gives. `markLayers` marks the new layers incomplete in layers.json, `removeLayer`
   * removes a layer's content. Goes on past failures.
   * @returns the failures, if any (the store then holds leftovers no record names).
   */
  async undo(markLayers: (ids: string[]) => Promise<void>, removeLayer: (id: string) => void): Promise<Error[]> {
    const failures: Error[] = [];
    const attempt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        failures.push(e as Error);
      }
    };
    const files = [...this.files];
    const restore = async (role: SavedRole) => {
      for (const [path, saved] of files.filter(([, f]) => f.role === role).reverse()) {
        await attempt(() => (saved.data === undefined ? rm(path, { force: true }) : writeFileAtomic(path, saved.data, { mode: saved.mode })));
      }
    };
    await restore('images');
    if (this.layers.length > 0) await attempt(() => markLayers([...this.layers]));
    await restore('data');
    for (const id of this.layers.reverse()) await attempt(() => removeLayer(id));
    await restore('layers');
    for (const dir of this.dirs.reverse()) await attempt(() => rm(dir, { recursive: true, force: true }));
    this.files.clear();
    this.layers.length = 0;
    this.dirs.length = 0;
    return failures;
  }
}
