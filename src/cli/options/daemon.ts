/** `--daemon-host` (`--src-daemon-host`, `--dest-daemon-host`): the Docker engine of `docker-daemon:` images. */
import type { Options } from 'yargs';
import type { SystemContext } from '../../types/context.js';
import type { Side } from './registry.js';

/** The daemon host flag of one side. */
export function daemonHostFlags(side: Side): Record<string, Options> {
  const s = side === 'src-' ? 'source ' : side === 'dest-' ? 'destination ' : '';
  return {
    [`${side}daemon-host`]: {
      type: 'string',
      describe: `use the ${s}Docker daemon at HOST (unix:///PATH or tcp://HOST:PORT) for docker-daemon: images (default $DOCKER_HOST, else unix:///var/run/docker.sock)`,
      requiresArg: true,
    },
  };
}

/** `ctx` with the daemon host of one side: the flag, else `DOCKER_HOST`. */
export function withDaemonHost(ctx: SystemContext, args: Record<string, unknown>, side: Side, env: NodeJS.ProcessEnv): SystemContext {
  const host = (args[`${side}daemon-host`] as string | undefined) || env.DOCKER_HOST;
  return host ? { ...ctx, dockerDaemonHost: host } : ctx;
}
