/**
 * `--shard`: N sync processes share one job, each taking the repositories whose hash falls on it, so every image
 * is synced by exactly one of them and all tags of one repository by the same one.
 *
 * - `--shard K/N`: shard K of N, K counted from 1 (`1/3`, `2/3`, `3/3`);
 * - `--shard auto`: K from `JOB_COMPLETION_INDEX` (counted from 0, as Kubernetes numbers the pods of an Indexed
 *   Job), N from `FERRY_SHARD_COUNT`; `--shard auto/N` takes N from the flag.
 *
 * A repository `HOST/PATH` (the full source name: `registry.example.com/team/app`, `docker.io/library/busybox`)
 * belongs to shard `1 + (first 4 bytes of SHA-256(HOST/PATH), big-endian) mod N`: every process, of any version,
 * splits the same names the same way without talking to the others.
 */
import { createHash } from 'node:crypto';
import { FerryError, ErrorCode } from '../errors.js';

/** The environment variable giving the shard count to `--shard auto`. */
export const SHARD_COUNT_ENV = 'FERRY_SHARD_COUNT';
/** The environment variable Kubernetes sets in the pods of an Indexed Job (0-based). */
export const SHARD_INDEX_ENV = 'JOB_COMPLETION_INDEX';
/** Most shards. */
export const MAX_SHARDS = 10_000;

/** One shard of a job. */
export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

const usage = (m: string) => new FerryError(ErrorCode.Usage, m);

function count(text: string, where: string): number {
  if (!/^[0-9]+$/.test(text)) throw usage(`${where}: the shard count must be a whole number from 1 to ${MAX_SHARDS}, got "${text}"`);
  const n = Number(text);
  if (n < 1 || n > MAX_SHARDS) throw usage(`${where}: the shard count must be a whole number from 1 to ${MAX_SHARDS}, got ${n}`);
  return n;
}

/**
 * Parses a `--shard` value.
 * @param env where `auto` reads {@link SHARD_INDEX_ENV} and {@link SHARD_COUNT_ENV}.
 * @throws FerryError(E_USAGE) for a malformed value, a shard outside 1..N, or a missing or invalid variable.
 */
export function parseShard(value: string, env: Record<string, string | undefined>): Shard {
  const m = /^(auto|[0-9]+)(?:\/(.*))?$/.exec(value.trim());
  if (!m) throw usage(`--shard ${value}: expected K/N (shard K of N, counted from 1), auto or auto/N`);
  if (m[1] === 'auto') {
    const n = m[2] !== undefined ? count(m[2], `--shard ${value}`) : undefined;
    const countText = env[SHARD_COUNT_ENV];
    if (n === undefined && (countText === undefined || countText === '')) {
      throw usage(`--shard auto: ${SHARD_COUNT_ENV} is not set (give the number of shards, or write --shard auto/N)`);
    }
    const total = n ?? count(countText!, SHARD_COUNT_ENV);
    const indexText = env[SHARD_INDEX_ENV];
    if (indexText === undefined || indexText === '') throw usage(`--shard auto: ${SHARD_INDEX_ENV} is not set (it is set in the pods of a Kubernetes Indexed Job)`);
    if (!/^[0-9]+$/.test(indexText) || Number(indexText) >= total) {
      throw usage(`--shard auto: ${SHARD_INDEX_ENV} must be a whole number from 0 to ${total - 1}, got "${indexText}"`);
    }
    return { index: Number(indexText) + 1, count: total };
  }
  if (m[2] === undefined) throw usage(`--shard ${value}: expected K/N (shard K of N, counted from 1)`);
  const total = count(m[2], `--shard ${value}`);
  const k = Number(m[1]);
  if (k < 1 || k > total) throw usage(`--shard ${value}: K must be from 1 to ${total} (shards are counted from 1)`);
  return { index: k, count: total };
}

/** The 1-based shard of `repository` (`HOST/PATH`) among `count`. */
export function shardOf(repository: string, count: number): number {
  return 1 + (createHash('sha256').update(repository, 'utf8').digest().readUInt32BE(0) % count);
}

/** Whether `shard` takes `repository` (`HOST/PATH`); every repository when `shard` is undefined. */
export function shardTakes(shard: Shard | undefined, repository: string): boolean {
  return shard === undefined || shard.count === 1 || shardOf(repository, shard.count) === shard.index;
}
