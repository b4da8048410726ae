/**
 * Configuration read once per command: a command builds one {@link SystemContext} and hands it to every registry
 * client it opens (`inspect` opens two: the image and its tag list), so what is derived from the files named by the
 * context (registries.conf, certs.d) is memoized per context object and per the values it was derived from. A new
 * context (the next command, or the next in-process test) reads the files again.
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
