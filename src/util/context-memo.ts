/**
 * Configuration read once per command: a command builds one {@link SystemContext} and hands it to every registry
 * client it opens (`inspect` opens two: the image and its tag list), so what is derived from the files named by the
 * context (registries.conf, certs.d) is memoized per context object and per the values it was derived from. A new
 * context (the next command, or the next in-process test) reads the files again. The contexts of one operation (a
 * copy's source and destination) can share what they memoized ({@link shareMemoized}): a key names everything the
 * result depends on, so two contexts with different settings (`--src-cert-dir`, `--dest-tls-verify`) still get
 * results of their own, while settings both sides have in common are read once.
 */
import type { SystemContext } from '../types/context.js';

const memo = new WeakMap<SystemContext, Map<string, Promise<unknown>>>();

/**
 * The promise `load()` gave for (`ctx`, `key`), calling it only the first time. `key` must name everything besides
 * `ctx`'s identity that the result depends on. A rejected load is forgotten, so the next caller tries again.
 */
export function memoizedPerContext<T>(ctx: SystemContext, key: string, load: () => Promise<T>): Promise<T> {
  let m = memo.get(ctx);
  if (!m) memo.set(ctx, (m = new Map()));
  const known = m.get(key) as Promise<T> | undefined;
  if (known) return known;
  const p = load();
  m.set(key, p);
  const map = m;
  p.catch(() => {
    if (map.get(key) === p) map.delete(key);
  });
  return p;
}

/**
 * Makes `a` and `b` share what they memoized from now on (what either has already is kept). Used for the contexts of
 * one operation; a third context sharing with `a` or `b` earlier does not see what the other brings.
 */
export function shareMemoized(a: SystemContext, b: SystemContext): void {
  if (a === b) return;
  const ma = memo.get(a);
  const mb = memo.get(b);
  if (ma !== undefined && ma === mb) return;
  const shared = ma ?? mb ?? new Map<string, Promise<unknown>>();
  if (ma !== undefined && mb !== undefined) for (const [k, v] of mb) if (!shared.has(k)) shared.set(k, v);
  memo.set(a, shared);
  memo.set(b, shared);
}
