/**
 * Which file `login` and `logout` edit: the containers auth file (`--authfile`, `$REGISTRY_AUTH_FILE`, the default
 * search order) or, with `--compat-auth-file PATH`, a Docker-format `config.json` at PATH and no other file, as
 * skopeo and podman do (Docker Hub's key is `https://index.docker.io/v1/`; keys naming a namespace are refused).
 */
import type { Options } from 'yargs';
import { FerryError, ErrorCode } from '../../errors.js';
import type { SystemContext } from '../../types/context.js';

/** `--authfile` and `--compat-auth-file` of login and logout. */
export const loginFileFlags: Record<string, Options> = {
  authfile: { type: 'string', describe: 'path of the authentication file', requiresArg: true },
  'compat-auth-file': { type: 'string', describe: 'path of a Docker-compatible config.json to use instead of the authentication file', requiresArg: true },
};

/** The file to edit and how to name an entry in it. */
export interface LoginFile {
  path: string;
  /** Whether it is a Docker-format config.json (`--compat-auth-file`). */
  dockerCompat: boolean;
  /**
   * Where credentials are stored and removed, in order (registries.conf's `credential-helpers`; `containers-auth.json`
   * is {@link path}). A Docker-compatible file given with `--compat-auth-file` is the only place.
   */
  helpers: string[];
}

/**
 * The file login/logout use.
 * @throws FerryError(E_USAGE) when both `--authfile` and `--compat-auth-file` are given.
 */
export async function loginFile(args: Record<string, unknown>, ctx: SystemContext): Promise<LoginFile> {
  const compat = args['compat-auth-file'] as string | undefined;
  if (compat !== undefined) {
    if (args['authfile'] !== undefined) {
      throw new FerryError(ErrorCode.Usage, 'options for paths to the credential file and to the Docker-compatible credential file can not be set simultaneously');
    }
    const { AUTH_FILES_HELPER } = await import('../../config/registries-conf.js');
    return { path: compat, dockerCompat: true, helpers: [AUTH_FILES_HELPER] };
  }
  const { authFileForWriting, credentialHelpersFor } = await import('../../config/auth-file.js');
  return { path: authFileForWriting(ctx), dockerCompat: false, helpers: await credentialHelpersFor(ctx) };
}
