import type { CommandSpec } from '../command.js';
import { write } from '../io.js';
import { registryFlags, retryFlags, contextFromArgs } from '../options/registry.js';
import { daemonHostFlags, withDaemonHost } from '../options/daemon.js';
import { storageFlags, applyStorageArgsFor } from '../options/storage.js';
import { FerryError, ErrorCode } from '../../errors.js';

const spec: CommandSpec = {
  command: 'inspect IMAGE-NAME',
  describe: 'Inspect image IMAGE-NAME',
  builder: (y) =>
    y
      .positional('IMAGE-NAME', { type: 'string', describe: 'TRANSPORT:DETAILS, e.g. docker://registry.example.com/app:1.0' })
      .options({
        ...registryFlags(''),
        ...daemonHostFlags(''),
        ...retryFlags,
        ...storageFlags,
        raw: { type: 'boolean', describe: 'print the exact manifest (or, with --config, config) bytes' },
        config: { type: 'boolean', describe: 'print the image config (as OCI; exact bytes with --raw)' },
        'no-tags': { alias: 'n', type: 'boolean', describe: "do not list the repository's tags" },
        format: { alias: 'f', type: 'string', describe: 'format the output (or, with --config, the config) with a Go template, e.g. "{{.Digest}}"', requiresArg: true },
      })
      .example('$0 inspect docker://docker.io/library/busybox:latest', 'show image metadata as JSON')
      .example("$0 inspect --format '{{.Digest}}' oci:/srv/layout:1.0", 'print one field'),
  async handler(args, cli) {
    const ctx = withDaemonHost(contextFromArgs(args, '', cli.io.env), args, '', cli.io.env);
    const format = args['format'] as string | undefined;
    // as skopeo: a template formats the inspect output, or with --config the OCI config; raw bytes have no fields
    if (format !== undefined && args['raw']) throw new FerryError(ErrorCode.Usage, 'raw output does not support format option');
    await applyStorageArgsFor([String(args['IMAGE-NAME'])], args, cli.io.env);
    const { parseImageName } = await import('../../transports/registry.js');
    const ref = parseImageName(String(args['IMAGE-NAME']));
    const { inspectImage } = await import('../../image/inspect.js');
    const listTags = ref.listTags && !args['no-tags'] ? () => ref.listTags!(ctx, { signal: cli.signal }) : undefined;
    const result = await inspectImage(ref, ctx, {
      raw: Boolean(args['raw']),
      config: Boolean(args['config']),
      noTags: Boolean(args['no-tags']),
      signal: cli.signal,
      listTags,
    });
    const { renderInspectResult } = await import('../output/inspect/format.js');
    await write(cli.io.stdout, renderInspectResult(result, { format }));
  },
};
export default spec;
