import type { CommandSpec } from '../command.js';
import { registryFlags, retryFlags, contextFromArgs } from '../options/registry.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { printJson } from '../output/json.js';

const spec: CommandSpec = {
  command: 'list-tags SOURCE-IMAGE',
  describe: 'List tags in the transport/repository specified by the SOURCE-IMAGE',
  builder: (y) =>
    y
      .options({ ...registryFlags(''), ...retryFlags })
      .positional('SOURCE-IMAGE', { type: 'string', describe: 'docker://REPOSITORY or docker-archive:PATH' })
      .example('$0 list-tags docker://docker.io/library/busybox', 'list the tags of a repository'),
  async handler(args, cli) {
    const name = String(args['SOURCE-IMAGE']);
    const ctx = contextFromArgs(args, '', cli.io.env);
    const i = name.indexOf(':');
    const transport = i < 0 ? '' : name.slice(0, i);
    if (transport === 'docker') {
      const rest = name.slice(i + 1);
      if (!rest.startsWith('//')) throw new FerryError(ErrorCode.InvalidReference, `invalid image name "${name}": docker references must start with docker://`);
      const { parseNormalizedName, repositoryString } = await import('../../reference/name.js');
      const repo = parseNormalizedName(rest.slice(2));
      if (repo.tag !== undefined || repo.digest !== undefined) {
        throw new FerryError(ErrorCode.InvalidReference, `invalid repository "${rest.slice(2)}": list-tags takes a repository without a tag or digest`);
      }
      const { listDockerTags } = await import('../../transports/docker/tags.js');
      const tags = await listDockerTags({ name: repo }, ctx, { signal: cli.signal });
      await printJson(cli.io.stdout, { Repository: repositoryString(repo), Tags: tags });
      return;
    }
    if (transport === 'docker-archive') {
      const { listArchiveTags } = await import('../../transports/docker-archive/tags.js');
      const tags = await listArchiveTags(name.slice(i + 1), { signal: cli.signal, tmpDir: ctx.tmpDir });
      await printJson(cli.io.stdout, { Tags: tags });
      return;
    }
    throw new FerryError(
      ErrorCode.UnknownTransport,
      `invalid image name "${name}": list-tags supports the docker and docker-archive transports`,
    );
  },
};
export default spec;
