import { FerryError, ErrorCode } from '../../errors.js';

/**
 * Normalizes a `login`/`logout` argument into the auth-file key and the registry host:
 * strips an `http(s)://` scheme and trailing slashes, maps Docker Hub's aliases to `docker.io`,
 * and refuses tags and digests (keys name registries or repositories, not images).
 */
export function registryKey(arg: string): { key: string; host: string } {
  let s = arg.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (s === 'index.docker.io' || s.startsWith('index.docker.io/') || s === 'registry-1.docker.io') {
    s = 'docker.io' + s.slice(s.indexOf('/') < 0 ? s.length : s.indexOf('/'));
  }
  if (s === 'docker.io/v1') s = 'docker.io';
  if (!s) throw new FerryError(ErrorCode.Usage, 'registry must not be empty');
  const transport = /^([a-z][a-z0-9-]*):\/\//.exec(s);
  if (transport !== null) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid registry "${arg}": name the registry without "${transport[0]}" (${s.slice(transport[0].length)})`);
  }
  const slash = s.indexOf('/');
  const host = slash < 0 ? s : s.slice(0, slash);
  const path = slash < 0 ? '' : s.slice(slash + 1);
  if (/[@]/.test(s) || /:[^/]*$/.test(path)) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid registry "${arg}": a tag or digest is not allowed here`);
  }
  if (!/^[a-zA-Z0-9.-]+(:\d+)?$|^\[[0-9a-fA-F:]+\](:\d+)?$/.test(host)) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid registry "${arg}"`);
  }
  if (path && !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(path)) {
    throw new FerryError(ErrorCode.InvalidReference, `invalid repository path in "${arg}"`);
  }
  return { key: path ? `${host}/${path}` : host, host };
}
