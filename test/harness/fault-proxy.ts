/**
 * An HTTP proxy in front of a registry (plain HTTP, or HTTPS given the CA: the proxy itself always speaks plain HTTP) that injects failures a real registry won't produce:
 * canned statuses, cut or corrupted bodies, delays. Requests (including `Range`) otherwise pass through
 * unchanged; the `Host` header is kept, so the registry's absolute `Location` URLs point back at the proxy.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** A failure to inject for one request. */
export type Fault =
  /** Answer this instead of forwarding (once `after` resolves, if given); `answering` is called just before it is written. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string; after?: Promise<unknown>; answering?: () => void }
  /** Forward, adding these headers to the answer (e.g. `RateLimit-Remaining`). */
  | { kind: 'headers'; headers: Record<string, string> }
  /** Forward once `until` resolves (the request is logged when it arrives). */
  | { kind: 'hold'; until: Promise<unknown> }
  /** Forward, but destroy the response socket after N body bytes. */
  | { kind: 'cut'; afterBytes: number }
  /** Forward, flipping one body byte (XOR 0xff) at offset `atByte`. */
  | { kind: 'corrupt'; atByte: number }
  /** Forward after a delay. */
  | { kind: 'delay'; ms: number };

/** What a rule sees of a request. */
export interface FaultRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** 1-based number of this request among all requests the proxy received. */
  count: number;
  /** 1-based number of this request among those with the same method and path (ignoring the query). */
  pathCount: number;
}

/** One request the proxy received. */
export interface ProxiedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The fault injected, if any. */
  fault?: Fault['kind'];
  /** Status answered to the client (undefined when the connection failed before headers). */
  status?: number;
  /** When the request arrived (`Date.now()`). */
  at: number;
}

/** A running fault proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  /** Every request received, in order. */
  requests: ProxiedRequest[];
  /** TCP connections accepted so far (including ones that sent no HTTP request, e.g. a TLS handshake attempt). */
  readonly connections: number;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function forwardableHeaders(h: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

/**
 * Starts a proxy on 127.0.0.1 forwarding to `targetUrl` (plain HTTP, or HTTPS trusting `opts.ca`). `rule` is called for every request;
 * it returns a {@link Fault} to inject, or undefined to pass the request through.
 */
export async function startFaultProxy(
  targetUrl: string,
  rule: (req: FaultRequest) => Fault | undefined,
  opts: { ca?: string } = {},
): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const tls = target.protocol === 'https:';
  if (!tls && target.protocol !== 'http:') throw new Error('startFaultProxy: the target must be an http or https registry');
  if (tls && !opts.ca) throw new Error('startFaultProxy: an https target needs opts.ca (the CA that signed its certificate)');
  const upstreamRequest = tls
    ? (o: RequestOptions) => httpsRequest({ ...o, ca: opts.ca })
    : (o: RequestOptions) => httpRequest(o);
  const requests: ProxiedRequest[] = [];
  const perPath = new Map<string, number>();
  const sockets = new Set<Socket>();
  let count = 0;
  let connections = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, record: ProxiedRequest, fault: Fault | undefined) => {
    const upstream = upstreamRequest({
      host: target.hostname, port: target.port || (tls ? 443 : 80), method: req.method, path: req.url,
      headers: forwardableHeaders(req.headers), agent: false,
    });
    upstream.on('error', () => {
      if (!res.headersSent) {
        record.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' }).end('fault proxy: upstream error');
      } else res.destroy();
    });
    req.pipe(upstream);
    upstream.on('response', (up) => {
      record.status = up.statusCode;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, { ...forwardableHeaders(up.headers), ...(fault?.kind === 'headers' ? fault.headers : {}) });
      if (fault?.kind === 'cut') res.flushHeaders(); // the client sees the headers even when cut at byte 0
      let offset = 0;
      up.on('data', (chunk: Buffer) => {
        if (fault?.kind === 'cut') {
          const room = fault.afterBytes - offset;
          if (room <= 0 || chunk.length >= room) {
            const part = chunk.subarray(0, Math.max(0, room));
            offset += part.length;
            up.destroy();
            const kill = () => res.destroy();
            if (part.length > 0) res.write(part, kill);
            else kill();
            return;
          }
        } else if (fault?.kind === 'corrupt' && fault.atByte >= offset && fault.atByte < offset + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[fault.atByte - offset] ^= 0xff;
        }
        offset += chunk.length;
        if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      });
      up.on('end', () => {
        if (!res.destroyed) res.end();
      });
      up.on('error', () => res.destroy());
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  };

  const server = createServer((req, res) => {
    const at = Date.now();
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const key = `${method} ${path.split('?')[0]}`;
    const pathCount = (perPath.get(key) ?? 0) + 1;
    perPath.set(key, pathCount);
    count++;
    const headers = { ...req.headers };
    const record: ProxiedRequest = { method, path, headers, at };
    requests.push(record);
    let fault: Fault | undefined;
    try {
      fault = rule({ method, path, headers, count, pathCount });
    } catch (e) {
      record.status = 500;
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`fault proxy rule threw: ${String(e)}`);
      return;
    }
    if (fault) record.fault = fault.kind;
    if (fault?.kind === 'status') {
      req.resume();
      const f = fault;
      const answer = () => {
        if (res.destroyed) return;
        record.status = f.status;
        const body = f.body ?? '';
        f.answering?.();
        res.writeHead(f.status, { 'content-length': String(Buffer.byteLength(body)), ...f.headers });
        res.end(body);
      };
      if (f.after) void f.after.then(answer);
      else answer();
      return;
    }
    if (fault?.kind === 'hold') {
      req.pause();
      let closed = false;
      res.on('close', () => (closed = true));
      void fault.until.then(() => {
        if (!closed) forward(req, res, record, fault);
      });
      return;
    }
    if (fault?.kind === 'delay') {
      req.pause();
      const t = setTimeout(() => forward(req, res, record, fault), fault.ms);
      res.on('close', () => clearTimeout(t));
      return;
    }
    forward(req, res, record, fault);
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return stopped;
    },
  };
}
