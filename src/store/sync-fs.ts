/**
 * Puts what a commit wrote on disk before the record that declares it complete is written. containers/storage
 * fsyncs its record files, tar-split files and image big data, never a layer's extracted files: after a power cut a
 * layer can be recorded complete with files missing or empty. ferry flushes the store's file systems once per
 * commit with syncfs(2), which writes back every file, directory and rename of the commit in one wait for the disk;
 * an fsync per file would wait once per file.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FerryError, ErrorCode } from '../errors.js';
import { storeNative } from './native.js';

/**
 * syncfs(2) of the file system of each of `dirs`, once per file system.
 * @throws FerryError(E_IO) naming the directory when a flush fails (the disk did not take the data: nothing may be
 * declared complete); E_UNSUPPORTED when the native addon predates syncfs.
 */
export async function syncFileSystems(dirs: string[]): Promise<void> {
  const native = storeNative();
  if (typeof native.syncFs !== 'function') {
    throw new FerryError(
      ErrorCode.Unsupported,
      'the ferry-store-native addon is older than this ferry (it has no syncfs): rebuild it (npm rebuild ferry-store-native)',
    );
  }
  const done = new Set<number>();
  for (const dir of dirs) {
    let fh: FileHandle | undefined;
    try {
      fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      const { dev } = await fh.stat();
      if (done.has(dev)) continue;
      await native.syncFs(fh.fd);
      done.add(dev);
    } catch (e) {
      throw new FerryError(ErrorCode.Io, `flushing ${dir} to disk: ${(e as Error).message}`, { cause: e });
    } finally {
      await fh?.close().catch(() => {});
    }
  }
}
