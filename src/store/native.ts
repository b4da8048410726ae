/**
 * Typed access to the `ferry-store-native` addon (src/store/native): fcntl record locks, mknod and
 * xattr calls that Node lacks. Loaded lazily so that commands not touching the store never need it.
 */
import { createRequire } from 'node:module';
import { FerryError, ErrorCode } from '../errors.js';

/** The addon's functions (all synchronous; failures throw an Error with an errno `code`). */
export interface StoreNative {
  /** Whole-file fcntl lock without waiting: 0 unlock, 1 read, 2 write. False when another process holds a conflicting lock. */
  setLock(fd: number, kind: 0 | 1 | 2): boolean;
  /** mknod(2); `mode` includes the file type bits. */
  mknod(path: string, mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** The value, or null when the attribute is absent. */
  lgetxattr(path: string, name: string): Buffer | null;
  llistxattr(path: string): string[];
  /** CRC-64/ISO update: `state` is the running inverted CRC (8 bytes, little-endian), updated in place. */
  crc64Update(state: Buffer, data: Buffer): void;
}

let loaded: StoreNative | undefined;

/**
 * The native addon.
 * @throws FerryError(E_UNSUPPORTED) when it was not built (npm ci builds it with node-gyp).
 */
export function storeNative(): StoreNative {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('ferry-store-native') as StoreNative;
    return loaded;
  } catch (e) {
    throw new FerryError(
      ErrorCode.Unsupported,
      `the local image store needs the ferry-store-native addon, which is not built (run npm ci, with g++ and make installed): ${(e as Error).message}`,
      { cause: e },
    );
  }
}
