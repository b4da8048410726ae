/**
 * Typed access to the `ferry-store-native` addon (src/store/native): fcntl record locks, mknod, xattr and syncfs
 * calls that Node lacks. Loaded lazily so that commands not touching the store never need it.
 */
import { createRequire } from 'node:module';
import { FerryError, ErrorCode } from '../errors.js';

/** The addon's functions (all synchronous but createFiles; failures throw an Error with an errno `code`). */
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
  /**
   * Creates regular files in order on the thread pool: per file open(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600), its
   * content (the next `length` bytes of `data`), fchown when asked, fchmod, futimens (atime = mtime; a fraction is
   * kept to the microsecond, but store/apply.ts passes whole seconds only), close. `meta` holds 6 numbers per file:
   * uid, gid, mode, mtime (seconds, ≥ 0), length, chown (0/1). `flags` bit 0: an fchown EINVAL is skipped. Stops at the first failure and rejects
   * with an Error carrying `code`, `errno`, `syscall`, `path` and the file's `index`.
   */
  createFiles(paths: string[], meta: Float64Array, data: Buffer, flags: number): Promise<void>;
  /**
   * syncfs(2) of the file system holding the open file `fd`, on the thread pool; `fd` must stay open until the
   * promise settles. Rejects with an Error carrying `code`, `errno` and `syscall`.
   */
  syncFs(fd: number): Promise<void>;
}

let loaded: StoreNative | undefined;

/**
 * The native addon.
 * @throws FerryError(E_UNSUPPORTED) when it is not installed or not built (npm builds it with node-gyp; it is an
 * optional dependency, so an install without a compiler leaves it out).
 */
export function storeNative(): StoreNative {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('ferry-store-native') as StoreNative;
    return loaded;
  } catch (e) {
    // One line: the loader's message carries a multi-line require stack.
    const why = /Cannot find module 'ferry-store-native'/.test((e as Error).message) ? 'not installed' : 'not built';
    throw new FerryError(
      ErrorCode.Unsupported,
      `the local image store needs the optional ferry-store-native addon, which is ${why}: ` +
        'reinstall ferry with install scripts enabled and a C compiler (gcc, make, python3), or run npm ci in its source tree',
      { cause: e },
    );
  }
}
