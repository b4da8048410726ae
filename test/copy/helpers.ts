/** Helpers for the copy engine tests (not a test file). */
import { expect } from 'chai';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../../src/errors.js';
import { copyImage, type CopyOptions } from '../../src/copy/index.js';
import { parseImageName } from '../../src/transports/registry.js';
import { PolicyContext } from '../../src/signature/policy/evaluate.js';
import type { ProgressEvent } from '../../src/types/progress.js';

/** Copies `src` to `dest` (full image names), collecting progress events. */
export async function copy(src: string, dest: string, opts: Partial<CopyOptions> = {}): Promise<{ digest: string; events: ProgressEvent[] }> {
  const events: ProgressEvent[] = [];
  const r = await copyImage(parseImageName(src), parseImageName(dest), {
    policy: PolicyContext.acceptAnything(),
    ...opts,
    onProgress: (e) => {
      events.push(e);
      opts.onProgress?.(e);
    },
  });
  return { digest: r.manifestDigest, events };
}

/** Expects `p` to reject with a FerryError and returns it. */
/** The parsed index.json of a layout. */
export async function layoutIndex(dir: string): Promise<{ manifests: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as never;
}

/** Parsed JSON of a layout blob. */
export async function layoutJson(dir: string, digest: string): Promise<Record<string, any>> {
  return JSON.parse(await readFile(layoutBlob(dir, digest), 'utf8')) as Record<string, any>;
}

/** Path of a layout blob. */
export function layoutBlob(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(dir, 'blobs', alg, hex);
}

/** Whether a path exists. */
export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Sorted entries of a directory (empty if missing). */
export async function entries(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

export { rejection } from '../harness/expect.js';
