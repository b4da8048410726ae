/** What the store needs from a storage driver (overlay, vfs): where layer contents live and how layers are made. */
import type { StorageDriver } from '../config/storage-conf.js';
import type { WhiteoutMode } from './apply.js';

/** Whiteouts of a layer, recorded instead of created (drivers that apply layers onto a copy of the parent). */
export interface Whiteouts {
  /** Paths (relative, clean) the layer deletes. */
  whiteouts: string[];
  /** Directories (relative, clean; '' for the root) whose lower contents the layer hides. */
  opaques: string[];
  /**
   * Directories the layer has as entries of its own on the way to its whiteouts and opaque directories: where the
   * lower layers have something else (a symlink), this directory replaces it rather than leading into it.
   */
  dirs: string[];
}

/** The folder of `<driver home>` where layers are unpacked before they are committed. */
export const STAGING_DIR = '.ferry-staging';

/** A storage driver's layout and operations. All paths are absolute. */
export interface LayerDriver {
  readonly name: StorageDriver;
  /** `<graphroot>/<driver>`. */
  readonly home: string;
  /** How whiteouts are stored (see {@link WhiteoutMode}). */
  readonly whiteoutMode: WhiteoutMode;
  /** The xattr of an opaque directory in `overlay` mode (see {@link ApplyOptions.opaqueXattr}). */
  readonly opaqueXattr?: string;
  /** Creates the driver's directories. */
  ensureDirs(): void;
  /**
   * Creates (if needed) and returns the folder where layers are unpacked (`<home>/.ferry-staging`), on the same
   * file system as the layers; each layer gets an owner-locked directory there (see layer-stage.ts).
   */
  stagingRoot(): string;
  /** The roots of the layers a child of `parent` sees below itself, nearest first (to check its whiteouts). */
  lowerDirs(parent: string): string[];
  /** Half-made layers a killed commit left (the caller holds the layers lock, so nobody is making them now). */
  leftovers(): string[];
  /** Where a layer's files are (overlay: its `diff/`; vfs: the layer's whole root file system). */
  contentDir(id: string): string;
  /**
   * Makes layer `id` from a staging directory (or, without one, an empty layer on top of `parent`).
   * `keepRootMode`: the layer tar set the root directory's mode.
   */
  finalize(id: string, parent: string | undefined, staging: string | undefined, keepRootMode: boolean, whiteouts?: Whiteouts): void;
  /** Removes a layer's files. */
  remove(id: string): void;
  /** Where a mounted layer is seen. */
  mountPath(id: string): string;
  /** Whether the layer is mounted now. */
  isMounted(id: string): boolean;
  /** Mounts the layer (with its parents) and returns {@link mountPath}. */
  mount(id: string, opts: { mountProgram?: string; signal?: AbortSignal }): Promise<string>;
  /** Unmounts the layer if it is mounted; returns whether it was. */
  unmount(id: string, opts: { signal?: AbortSignal }): Promise<boolean>;
}
