import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { registryFlags, retryFlags, contextFromArgs } from '../options/registry.js';
import { FerryError, ErrorCode } from '../../errors.js';
import { redactCredentials } from '../../util/redact.js';

const spec: CommandSpec = {
  command: 'delete IMAGE-NAME',
  describe: 'Delete image IMAGE-NAME',
  builder: (y) =>
    y
      .positional('IMAGE-NAME', { type: 'string', describe: 'docker://REGISTRY/REPO[:TAG|@DIGEST] or oci:PATH:REF' })
      .options({
        ...registryFlags(''),
        ...retryFlags,
        'tag-only': { type: 'boolean', describe: 'remove only this tag (docker://); the image and its other tags stay' },
      })
      .example('$0 delete docker://registry.example.com/app:1.0', 'delete the image (and every tag pointing at it)')
      .example('$0 delete --tag-only docker://registry.example.com/app:old', 'remove just one tag'),
  async handler(args, cli) {
    const ctx = contextFromArgs(args, '', cli.io.env);
    const { parseImageName } = await import('../../transports/registry.js');
    const ref = parseImageName(String(args['IMAGE-NAME']));
    const tagOnly = Boolean(args['tag-only']);
    if (tagOnly && !ref.canDeleteTagOnly) throw new FerryError(ErrorCode.Usage, `--tag-only is only supported for docker:// references, not ${ref.transport.name}:`);
    const warnings: string[] = [];
    await ref.deleteImage(ctx, { signal: cli.signal, ...(tagOnly ? { tagOnly } : {}), onWarning: (m) => warnings.push(m) });
    for (const w of warnings) await write(cli.io.stderr, `Warning: ${redactCredentials(w)}\n`);
  },
};
export default spec;
