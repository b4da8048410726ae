/** What an archive holds as another tool sees it: GNU tar's listing. */
import { runOk } from './procs.js';

/** Names of the entries of a tar, in archive order. */
export async function tarNames(file: string): Promise<string[]> {
  return (await runOk('tar', ['-tf', file])).stdout.split('\n').filter((n) => n !== '');
}

/** The digests of the blobs a tar holds (`blobs/sha256/HEX` entries), in archive order, a blob stored twice twice. */
export async function tarBlobDigests(file: string): Promise<string[]> {
  return (await tarNames(file)).filter((n) => /blobs\/sha256\/[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n.slice(-64)}`);
}
