/**
 * A minimal registry client for test setup (not ferry's code): authenticates against a
 * {@link TestRegistry} (Basic or bearer token) and pushes the blobs and manifests of a built image.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { layoutBlobPath, type BuiltImage } from './images.js';
import type { TestRegistry } from './registry.js';

/** Options of the helpers below. */
export interface ClientOptions {
  /** Override the registry's default user (e.g. to test a wrong password). */
  username?: string;
  password?: string;
  signal?: AbortSignal;
}

/** An undici dispatcher that trusts the registry's CA (close it when done). */
export function registryDispatcher(reg: TestRegistry): Agent {
  return new Agent({ connect: reg.caPem ? { ca: reg.caPem } : {} });
}

/** Parses a `WWW-Authenticate` challenge: scheme plus its `key="value"` parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m?.[2] ?? ''); p; p = re.exec(m?.[2] ?? '')) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: (m?.[1] ?? '').toLowerCase(), params };
}

/**
 * Returns the `Authorization` header value that grants `actions` on `repo` (undefined when the
 * registry needs no auth). Bearer tokens are fetched from the token server with Basic credentials.
 */
export async function registryAuthorization(
  reg: TestRegistry, repo: string, actions: string[], opts: ClientOptions & { dispatcher?: Dispatcher } = {},
): Promise<string | undefined> {
  const dispatcher = opts.dispatcher ?? registryDispatcher(reg);
  try {
    const ping = await request(`${reg.url}/v2/`, { dispatcher, signal: opts.signal });
    await ping.body.dump();
    if (ping.statusCode === 200) return undefined;
    if (ping.statusCode !== 401) throw new Error(`GET /v2/ answered ${ping.statusCode}`);
    const challenge = parseChallenge(String(ping.headers['www-authenticate'] ?? ''));
    const user = opts.username ?? reg.username;
    const pass = opts.password ?? reg.password;
    const basic = user !== undefined ? 'Basic ' + Buffer.from(`${user}:${pass ?? ''}`).toString('base64') : undefined;
    if (challenge.scheme === 'basic') {
      if (!basic) throw new Error('registry wants Basic auth but no user is known');
      return basic;
    }
    if (challenge.scheme !== 'bearer') throw new Error(`unsupported auth challenge scheme "${challenge.scheme}"`);
    const u = new URL(challenge.params['realm'] ?? '');
    if (challenge.params['service']) u.searchParams.set('service', challenge.params['service']);
    u.searchParams.append('scope', `repository:${repo}:${actions.join(',')}`);
    const res = await request(u, { dispatcher, signal: opts.signal, headers: basic ? { authorization: basic } : {} });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`token server answered ${res.statusCode}`);
    }
    const body = (await res.body.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error('token server answered without a token');
    return `Bearer ${token}`;
  } finally {
    if (!opts.dispatcher) await dispatcher.close();
  }
}

function splitRepoTag(repoAndTag: string, defaultTag: string): { repo: string; tag: string } {
  const slash = repoAndTag.lastIndexOf('/');
  const colon = repoAndTag.lastIndexOf(':');
  if (colon > slash) return { repo: repoAndTag.slice(0, colon), tag: repoAndTag.slice(colon + 1) };
  return { repo: repoAndTag, tag: defaultTag };
}

/**
 * Pushes every blob and manifest of the layout image to the registry as `repo:tag` (tag defaults to the
 * image's tag). Per-platform manifests of a multi-arch image are pushed by digest, then the index by tag.
 */
export async function pushImage(image: BuiltImage, reg: TestRegistry, repoAndTag: string, opts: ClientOptions = {}): Promise<void> {
  const { repo, tag } = splitRepoTag(repoAndTag, image.tag);
  const dispatcher = registryDispatcher(reg);
  try {
    const authorization = await registryAuthorization(reg, repo, ['pull', 'push'], { ...opts, dispatcher });
    const headers = (extra: Record<string, string> = {}) => ({ ...(authorization ? { authorization } : {}), ...extra });
    const call = async (method: Dispatcher.HttpMethod, url: string | URL, extra: Record<string, string> = {}, body?: Dispatcher.DispatchOptions['body']) => {
      const res = await request(url, { method, dispatcher, signal: opts.signal, headers: headers(extra), body });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    };
    const expect = (r: { status: number; text: string }, ok: number[], what: string) => {
      if (!ok.includes(r.status)) throw new Error(`push ${repo}: ${what} answered ${r.status}: ${r.text.slice(0, 500)}`);
    };

    const blobs = new Set<string>();
    for (const m of image.manifests) {
      for (const l of m.layers) blobs.add(l.digest);
      blobs.add(m.configDigest);
    }
    for (const digest of blobs) {
      const head = await call('HEAD', `${reg.url}/v2/${repo}/blobs/${digest}`);
      if (head.status === 200) continue;
      const start = await call('POST', `${reg.url}/v2/${repo}/blobs/uploads/`, { 'content-length': '0' });
      expect(start, [202], `starting the upload of ${digest}`);
      const location = new URL(String(start.headers['location']), reg.url);
      location.searchParams.set('digest', digest);
      const file = layoutBlobPath(image.layoutDir, digest);
      const { size } = await stat(file);
      const put = await call('PUT', location, { 'content-type': 'application/octet-stream', 'content-length': String(size) }, createReadStream(file));
      expect(put, [201], `uploading ${digest}`);
    }
    const putManifest = async (ref: string, mediaType: string, bytes: Buffer) => {
      const r = await call('PUT', `${reg.url}/v2/${repo}/manifests/${ref}`, { 'content-type': mediaType }, bytes);
      expect(r, [201], `PUT manifest ${ref}`);
    };
    if (image.manifests.length > 1) {
      for (const m of image.manifests) await putManifest(m.digest, m.mediaType, m.bytes);
    }
    await putManifest(tag, image.mediaType, image.bytes);
  } finally {
    await dispatcher.close();
  }
}

/**
 * Pushes raw blobs, then raw manifests (in order, each by its `ref`: a tag or a digest) to `repo` of an `http`
 * registry (no authentication): for artifacts and referrer indexes a built image does not cover.
 */
export async function pushRaw(reg: TestRegistry, repo: string, blobs: Iterable<Buffer>, manifests: { ref: string; mediaType: string; bytes: Buffer }[]): Promise<void> {
  const { createHash } = await import('node:crypto');
  for (const b of blobs) {
    const digest = `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', body: '' });
    if (start.status !== 202) throw new Error(`push ${repo}: starting an upload answered ${start.status}`);
    const location = new URL(start.headers.get('location')!, reg.url);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: b });
    if (put.status !== 201) throw new Error(`push ${repo}: uploading ${digest} answered ${put.status}: ${await put.text()}`);
  }
  for (const m of manifests) {
    const r = await fetch(`${reg.url}/v2/${repo}/manifests/${m.ref}`, { method: 'PUT', headers: { 'content-type': m.mediaType }, body: m.bytes });
    if (r.status !== 201) throw new Error(`push ${repo}: PUT manifest ${m.ref} answered ${r.status}: ${await r.text()}`);
  }
}
