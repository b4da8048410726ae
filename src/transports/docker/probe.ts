/**
 * The read-only probe of a registry destination (a sync plan): the manifest HEAD a copy's skip check makes, and a
 * blob HEAD per blob, with a pull-only client — nothing is claimed, mounted, uploaded or recorded.
 */
import { RegistryClient } from '../../registry/client.js';
import { blobSize } from '../../registry/upload.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { BlobInfo, DestinationProbe } from '../../types/image.js';
import { DOCKER_DESTINATION_PROPERTIES } from './destination.js';
import type { DockerReference } from './reference.js';

/** Opens the probe of `ref`'s repository (no request is made before the first question). */
export function openDockerProbe(ref: DockerReference, ctx: SystemContext): DestinationProbe {
  const { domain, path, tag, digest } = ref.name;
  const client = RegistryClient.open({ registry: domain, repository: path, ctx, actions: ['pull'] });
  return {
    properties: DOCKER_DESTINATION_PROPERTIES,
    blobScope: `docker://${domain}/${path}`,
    async existingManifestDigest(opts: OpOptions = {}) {
      return (await client.headManifest(tag ?? digest ?? 'latest', opts))?.digest;
    },
    async hasBlob(info: BlobInfo, opts: OpOptions = {}) {
      const size = await blobSize(client, info.digest, opts);
      return size !== undefined && (size < 0 || info.size < 0 || size === info.size);
    },
    close: () => client.close(),
  };
}
