/**
 * The trust policy's check of a copy's source, before anything is written: the top-level manifest with its
 * signatures and, for a list, every instance the copy will read, each with its own manifest and signatures. That is
 * what containers/image judges (it checks each instance, and never a list alone); ferry judges the list as well, so
 * that a copy of the list alone (`--multi-arch index-only`) is judged too.
 */
import type { VerifiedManifest } from '../image/unparsed.js';
import { isIndexType } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse.js';
import { choosePlatformInstance } from '../manifest/platform.js';
import type { ManifestDescriptor, ManifestList } from '../manifest/types.js';
import type { ImageReference } from '../types/reference.js';
import { selectedPositions, type InstanceSelection } from './multiple.js';
import type { CopyOptions } from './options.js';
import type { SourceInstances } from './source-instances.js';

/** What is copied of a list: some instances and the list itself, or one instance (the system's) alone. */
export type ListPlan = { selection: InstanceSelection } | { system: ManifestDescriptor };

/** The options that decide which instances of a list are copied. */
export type ListOptions = Pick<CopyOptions, 'platforms' | 'multiArch' | 'srcCtx'>;

/** Which instances of `list` a copy with `opts` reads. */
export function listPlan(list: ManifestList, opts: ListOptions): ListPlan {
  if (opts.platforms !== undefined && opts.platforms.length > 0) return { selection: { kind: 'platforms', platforms: opts.platforms } };
  if (opts.multiArch === 'all') return { selection: { kind: 'all' } };
  if (opts.multiArch === 'index-only') return { selection: { kind: 'none' } };
  return { system: choosePlatformInstance(list, opts.srcCtx?.platform ?? {}) };
}

/** The instances `plan` copies, in list order. */
export function plannedInstances(list: ManifestList, plan: ListPlan): ManifestDescriptor[] {
  return 'system' in plan ? [plan.system] : selectedPositions(list, plan.selection).map((i) => list.manifests[i]!);
}

/** The source's list and what is copied of it; undefined for a single image. */
export interface SourceList {
  list: ManifestList;
  plan: ListPlan;
}

/**
 * Judges the source `srcRef` with the policy of `opts`: its top-level manifest `top` (already verified) with
 * `topSignatures`, then, for a list, each instance to be copied.
 * @returns the list and its plan when the source is a list.
 * @throws FerryError(E_POLICY) naming the image (and the instance) refused; whatever reading a manifest or the
 *   signatures throws.
 */
export async function checkSourcePolicy(
  srcRef: ImageReference,
  top: VerifiedManifest,
  topSignatures: () => Promise<Buffer[]>,
  instances: SourceInstances,
  opts: ListOptions & Pick<CopyOptions, 'policy'>,
  signal: AbortSignal,
): Promise<SourceList | undefined> {
  const scope = { transport: srcRef.transport.name, identity: srcRef.policyIdentity(), namespaces: srcRef.policyNamespaces() };
  const judge = (name: string, manifest: Buffer, signatures: () => Promise<Buffer[]>) =>
    opts.policy.checkImage(
      {
        ...scope,
        name,
        dockerReference: srcRef.dockerReference(),
        manifest,
        signatures,
      },
      { signal },
    );
  await judge(srcRef.toString(), top.bytes, topSignatures);
  if (!isIndexType(top.mediaType)) return undefined;
  const list = parseManifest(top.bytes, top.mediaType) as ManifestList;
  const plan = listPlan(list, opts);
  // the instances share the list's scope: when only the scope decides, the list's verdict is theirs
  if (!opts.policy.judgesImages(scope)) return { list, plan };
  for (const d of plannedInstances(list, plan)) {
    const inst = instances.get(d.digest);
    await judge(`${srcRef.toString()} (instance ${d.digest})`, (await inst.image.manifest({ signal })).bytes, inst.signatures);
  }
  return { list, plan };
}
