/**
 * policy.json scopes of `docker://` images (containers-policy.json(5); containers/image
 * `docker/policyconfiguration`): the full name, then the repository, its parent namespaces, the host (with port),
 * then `*.` wildcards of the host's parent domains (without the port).
 */
import { type DockerName, repositoryString } from '../../reference/name.js';

/** The most specific scope: `host/path:tag`, or `host/path@digest` when the image is pinned by digest. */
export function dockerPolicyIdentity(n: DockerName): string {
  const repo = repositoryString(n);
  if (n.digest !== undefined) return `${repo}@${n.digest}`;
  return n.tag !== undefined ? `${repo}:${n.tag}` : repo;
}

/** `host/ns/repo`, `host/ns`, `host`, then `*.example.com`, `*.com` for a host `a.example.com[:port]`. */
export function dockerPolicyNamespaces(n: DockerName): string[] {
  const out: string[] = [];
  let name = repositoryString(n);
  for (;;) {
    out.push(name);
    const slash = name.lastIndexOf('/');
    if (slash === -1) break;
    name = name.slice(0, slash);
  }
  const colon = name.indexOf(':');
  if (colon !== -1) name = name.slice(0, colon);
  for (;;) {
    const dot = name.indexOf('.');
    if (dot === -1) break;
    name = name.slice(dot + 1);
    out.push(`*.${name}`);
  }
  return out;
}
