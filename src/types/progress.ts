/**
 * Progress of a copy, emitted by the engine and rendered only by the CLI.
 * - `start`: a blob begins (offset is where it resumes, usually 0);
 * - `bytes`: `offset` bytes of the blob are now done;
 * - `done`: the blob is complete and verified;
 * - `skipped`: the destination already had it (or mounted it): `reason` says which.
 */
export interface ProgressEvent {
  kind: 'start' | 'bytes' | 'done' | 'skipped';
  digest: string;
  /** Total size of the blob, -1 if unknown. */
  size: number;
  /** Bytes done so far. */
  offset: number;
  /** What the blob is: a layer, the config, … */
  role?: 'layer' | 'config';
  /** For `skipped`: `already exists`, `mounted`, … */
  reason?: string;
}

export type ProgressListener = (e: ProgressEvent) => void;
