/** `list-tags` for `docker://` repositories. */
import { RegistryClient } from '../../registry/client.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { DockerName } from '../../reference/name.js';
import type { DockerReference } from './reference.js';

/**
 * Every tag of the repository named by `ref` (its tag or digest is ignored), following pagination.
 * @throws FerryError(E_NOT_FOUND) if the repository does not exist.
 */
export async function listDockerTags(
  ref: DockerReference | { name: DockerName },
  ctx: SystemContext,
  opts: OpOptions & { pageSize?: number } = {},
): Promise<string[]> {
  const client = RegistryClient.open({ registry: ref.name.domain, repository: ref.name.path, ctx, actions: ['pull'] });
  try {
    return await client.listTags(opts);
  } finally {
    await client.close();
  }
}
