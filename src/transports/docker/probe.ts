/**
 * The read-only probe of a registry destination (a sync plan): the manifest HEAD a copy's skip check makes, a blob
 * HEAD per blob, and for a blob missing there a blob HEAD in each repository a copy would mount it from
 * (`mount-candidates.ts`), with pull-only clients of the same registry and context — nothing is claimed, mounted,
 * uploaded or recorded.
 */
import { RegistryClient } from '../../registry/client.js';
import { blobSize } from '../../registry/upload.js';
import { ErrorCode, FerryError } from '../../errors.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, DestinationProbe, ReuseBlobOptions } from '../../types/image.js';
import { DOCKER_DESTINATION_PROPERTIES } from './destination.js';
import { mountCandidates } from './mount-candidates.js';
import type { DockerReference } from './reference.js';

/** Opens the probe of `ref`'s repository (no request is made before the first question). */
export function openDockerProbe(ref: DockerReference, ctx: SystemContext): DestinationProbe {
  const { domain, path, tag, digest } = ref.name;
  const client = RegistryClient.open({ registry: domain, repository: path, ctx, actions: ['pull'] });
  /** Pull clients of the other repositories looked into, by repository. */
  const others = new Map<string, RegistryClient>();
  const holds = async (c: RegistryClient, info: BlobInfo, opts: OpOptions) => {
    const size = await blobSize(c, info.digest, opts);
    return size !== undefined && (size < 0 || info.size < 0 || size === info.size);
  };
  return {
    properties: DOCKER_DESTINATION_PROPERTIES,
    blobScope: `docker://${domain}/${path}`,
    async existingManifestDigest(opts: OpOptions = {}) {
      return (await client.headManifest(tag ?? digest ?? 'latest', opts))?.digest;
    },
    hasBlob: (info: BlobInfo, opts: OpOptions = {}) => holds(client, info, opts),
    async mountableFrom(info: BlobInfo, opts: ReuseBlobOptions = {}) {
      const { from } = await mountCandidates(domain, path, info.digest, ctx, { useCache: true, sourceLocation: opts.sourceLocation });
      for (const repo of from) {
        let c = others.get(repo);
        if (!c) others.set(repo, (c = RegistryClient.open({ registry: domain, repository: repo, ctx, actions: ['pull'] })));
        try {
          if (await holds(c, info, opts)) return repo;
        } catch (e) {
          // not allowed to read there: a copy's mount from there would be refused too
          if (opts.signal?.aborted || (e instanceof FerryError && e.code === ErrorCode.Aborted)) throw e;
        }
      }
      return undefined;
    },
    async close() {
      const all = [client, ...others.values()];
      others.clear();
      await Promise.all(all.map((c) => c.close()));
    },
  };
}
