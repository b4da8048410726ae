/**
 * The destination context a copy opens its destination with: the caller's, plus the copy options that are also
 * context settings. What is read once per context object (registries.conf, certificates, registries.d; see
 * `util/context-memo.ts`) is read once for all the images of a sync only if every image gets the same object.
 */
import type { CopyOptions, DestinationContext } from './options.js';

/** Contexts derived from a caller's destination context, by the settings the copy put on them. */
const derived = new WeakMap<DestinationContext, Map<string, DestinationContext>>();

/**
 * `opts.destCtx` itself when the copy sets nothing on it, else the one context derived from it for these settings
 * (the same object for every copy with the same `destCtx` and settings). Never modifies `opts.destCtx`.
 */
export function destinationContext(opts: Pick<CopyOptions, 'destCtx' | 'ociAcceptUncompressedLayers' | 'additionalTags'>): DestinationContext {
  const base = opts.destCtx ?? {};
  const { ociAcceptUncompressedLayers, additionalTags } = opts;
  if (ociAcceptUncompressedLayers === undefined && additionalTags === undefined) return base;
  const key = JSON.stringify([ociAcceptUncompressedLayers ?? null, additionalTags ?? null]);
  let byKey = derived.get(base);
  if (!byKey) derived.set(base, (byKey = new Map()));
  let ctx = byKey.get(key);
  if (!ctx) {
    ctx = { ...base };
    if (ociAcceptUncompressedLayers !== undefined) ctx.ociAcceptUncompressedLayers = ociAcceptUncompressedLayers;
    if (additionalTags !== undefined) ctx.additionalTags = [...additionalTags];
    byKey.set(key, ctx);
  }
  return ctx;
}
