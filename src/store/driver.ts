/** What the store needs from a storage driver (overlay, vfs): where layer contents live and how layers are made. */
import type { StorageDriver } from './config.js';

/** Whiteouts of a layer, recorded instead of created (drivers that apply layers onto a copy of the parent). */
export interface Whiteouts {
  /** Paths (relative, clean) the layer deletes. */
  whiteouts: string[];
  /** Directories (relative, clean; '' for the root) whose lower contents the layer hides. */
  opaques: string[];
}

/** A storage driver's layout and operations. All paths are absolute. */
export interface LayerDriver {
  readonly name: StorageDriver;
  /** `<graphroot>/<driver>`. */
  readonly home: string;
  /** `overlay`: whiteouts become 0/0 character devices and opaque xattrs; `record`: they are returned in {@link Whiteouts}. */
  readonly whiteoutMode: 'overlay' | 'record';
  /** Creates the driver's directories. */
  ensureDirs(): void;
  /** A new staging directory (with an empty `diff/`) on the same file system as the layers. */
  newStaging(): string;
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
