/** The copy engine: `copyImage` and its options. */
export { copyImage } from './copy.js';
export type { CopyOptions, CopyResult, CopyPhase, DestinationContext, CompressOptions, MultiArch } from './options.js';
export { compressionStep } from './blob.js';
