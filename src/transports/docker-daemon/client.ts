/**
 * The two Docker Engine API calls the `docker-daemon:` transport makes — `GET /images/{name}/get` (a `docker save`
 * archive) and `POST /images/load` (`docker load`) — over a unix socket or plain TCP, with undici. Podman's
 * Docker-compatible service answers them too.
 */
import type { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { Agent, type Dispatcher } from '../../registry/undici.js';
import type { OpOptions, SystemContext } from '../../types/context.js';

/** Where the engine listens when neither `--*-daemon-host` nor `DOCKER_HOST` says otherwise. */
export const DEFAULT_DAEMON_HOST = 'unix:///var/run/docker.sock';

/** Longest error body read from the engine. */
const MAX_ERROR_BODY = 64 * 1024;

/** A connection to one engine. Call {@link close} when done. */
export interface DaemonConnection {
  /** The host as given (`unix:///…`, `tcp://host:port`). */
  readonly host: string;
  readonly agent: Dispatcher;
  /** The HTTP origin requests go to. */
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * Connects to `ctx.dockerDaemonHost` (the CLI fills it from `--src-daemon-host`/`--dest-daemon-host`/`--daemon-host`,
 * else `DOCKER_HOST`), else {@link DEFAULT_DAEMON_HOST}: `unix://PATH`, `tcp://HOST:PORT` or `http://HOST:PORT`.
 * @throws FerryError(E_UNSUPPORTED) for other schemes (TLS, ssh, npipe).
 */
export function connectDaemon(ctx: SystemContext): DaemonConnection {
  const host = ctx.dockerDaemonHost || DEFAULT_DAEMON_HOST;
  let agent: Agent;
  let origin: string;
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (socketPath === '') throw new FerryError(ErrorCode.InvalidReference, `invalid docker daemon host ${JSON.stringify(host)}: no socket path`);
    agent = new Agent({ connect: { socketPath } });
    origin = 'http://localhost';
  } else if (/^(tcp|http):\/\/[^/]+\/?$/.test(host)) {
    agent = new Agent();
    origin = `http://${host.replace(/^(tcp|http):\/\//, '').replace(/\/$/, '')}`;
  } else {
    throw new FerryError(ErrorCode.Unsupported, `docker daemon host ${JSON.stringify(host)} is not supported: use unix:///PATH or tcp://HOST:PORT`);
  }
  return { host, agent, origin, close: () => agent.close() };
}

/** The engine's `message` from an error body, or the body itself (bounded). */
async function errorText(body: Readable & { text?: () => Promise<string> }): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_ERROR_BODY) {
      body.destroy();
      break;
    }
  }
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 500);
}

function connectError(conn: DaemonConnection, what: string, e: unknown): FerryError {
  if (e instanceof FerryError) return e;
  const code = (e as { code?: string }).code;
  if ((e as { name?: string }).name === 'AbortError' || code === 'UND_ERR_ABORTED') return new FerryError(ErrorCode.Aborted, `${what}: aborted`, { cause: e });
  return new FerryError(ErrorCode.Network, `${what}: cannot talk to the Docker daemon at ${conn.host} (${(e as Error).message ?? String(e)})`, { cause: e });
}

/**
 * `GET /images/{name}/get`: the image (name or ID) as a `docker save` archive stream.
 * @throws FerryError(E_NOT_FOUND) when the engine has no such image; E_REGISTRY for other answers; E_NETWORK.
 */
export async function daemonSave(conn: DaemonConnection, name: string, opts: OpOptions = {}): Promise<Readable> {
  const what = `reading ${name} from the Docker daemon`;
  let res: Dispatcher.ResponseData;
  try {
    res = await conn.agent.request({ origin: conn.origin, path: `/images/${name}/get`, method: 'GET', signal: opts.signal });
  } catch (e) {
    throw connectError(conn, what, e);
  }
  if (res.statusCode === 200) return res.body;
  const msg = await errorText(res.body).catch(() => '');
  if (res.statusCode === 404) throw new FerryError(ErrorCode.NotFound, `${what}: no such image${msg ? ` (${msg})` : ''}`);
  throw new FerryError(ErrorCode.Registry, `${what}: the daemon answered ${res.statusCode}${msg ? `: ${msg}` : ''}`);
}

/**
 * `POST /images/load` with `archive` as the body; the engine's progress messages are read to their end, and an
 * error among them fails the call.
 * @throws FerryError(E_REGISTRY) when the engine refuses the archive; E_NETWORK.
 */
export async function daemonLoad(conn: DaemonConnection, archive: Readable, size: number, opts: OpOptions = {}): Promise<void> {
  const what = 'loading the image into the Docker daemon';
  let res: Dispatcher.ResponseData;
  try {
    res = await conn.agent.request({
      origin: conn.origin,
      path: '/images/load?quiet=1',
      method: 'POST',
      headers: { 'content-type': 'application/x-tar', 'content-length': String(size) },
      body: archive,
      signal: opts.signal,
    });
  } catch (e) {
    throw connectError(conn, what, e);
  }
  if (res.statusCode !== 200) {
    const msg = await errorText(res.body).catch(() => '');
    throw new FerryError(ErrorCode.Registry, `${what}: the daemon answered ${res.statusCode}${msg ? `: ${msg}` : ''}`);
  }
  // A JSON message stream: `{"stream": "Loaded image: …"}`, or `{"error": …, "errorDetail": {…}}` on failure.
  let text = '';
  for await (const chunk of res.body) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_ERROR_BODY) text = text.slice(-MAX_ERROR_BODY);
  }
  for (const line of text.split(/\r?\n|(?<=\})(?=\{)/)) {
    if (line.trim() === '') continue;
    let m: { error?: unknown; errorDetail?: { message?: unknown } };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      continue;
    }
    const err = typeof m.errorDetail?.message === 'string' ? m.errorDetail.message : typeof m.error === 'string' ? m.error : undefined;
    if (err !== undefined) throw new FerryError(ErrorCode.Registry, `${what}: ${err}`);
  }
}
