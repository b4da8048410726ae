import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { ErrorCode } from '../../src/errors.js';
import { parseShard, shardOf, shardTakes } from '../../src/sync/shard.js';
import { errorOf } from '../harness/expect.js';

describe('sync/shard: --shard K/N and auto', () => {
  it('parses K/N counted from 1', () => {
    expect(parseShard('1/3', {})).to.deep.equal({ index: 1, count: 3 });
    expect(parseShard('3/3', {})).to.deep.equal({ index: 3, count: 3 });
    expect(parseShard('1/1', {})).to.deep.equal({ index: 1, count: 1 });
  });

  it('auto takes the 0-based JOB_COMPLETION_INDEX, the count from FERRY_SHARD_COUNT or auto/N', () => {
    expect(parseShard('auto', { JOB_COMPLETION_INDEX: '0', FERRY_SHARD_COUNT: '4' })).to.deep.equal({ index: 1, count: 4 });
    expect(parseShard('auto', { JOB_COMPLETION_INDEX: '3', FERRY_SHARD_COUNT: '4' })).to.deep.equal({ index: 4, count: 4 });
    expect(parseShard('auto/2', { JOB_COMPLETION_INDEX: '1', FERRY_SHARD_COUNT: '9' })).to.deep.equal({ index: 2, count: 2 });
  });

  for (const [value, env, why] of [
    ['0/3', {}, 'K must be from 1 to 3 (shards are counted from 1)'],
    ['4/3', {}, 'K must be from 1 to 3'],
    ['1/0', {}, 'the shard count must be a whole number from 1'],
    ['1/x', {}, 'the shard count must be a whole number'],
    ['2', {}, 'expected K/N'],
    ['-1/3', {}, 'expected K/N'],
    ['half', {}, 'expected K/N'],
    ['auto', { JOB_COMPLETION_INDEX: '0' }, 'FERRY_SHARD_COUNT is not set'],
    ['auto', { FERRY_SHARD_COUNT: '3' }, 'JOB_COMPLETION_INDEX is not set'],
    ['auto', { JOB_COMPLETION_INDEX: '3', FERRY_SHARD_COUNT: '3' }, 'JOB_COMPLETION_INDEX must be a whole number from 0 to 2, got "3"'],
    ['auto', { JOB_COMPLETION_INDEX: 'one', FERRY_SHARD_COUNT: '3' }, 'JOB_COMPLETION_INDEX must be a whole number'],
    ['auto', { JOB_COMPLETION_INDEX: '0', FERRY_SHARD_COUNT: 'three' }, 'FERRY_SHARD_COUNT: the shard count must be a whole number'],
  ] as const) {
    it(`refuses ${value} with ${JSON.stringify(env)}`, () => {
      const e = errorOf(() => parseShard(value, env));
      expect(e.code).to.equal(ErrorCode.Usage);
      expect(e.message).to.include(why);
    });
  }

  it('puts every repository in exactly one shard, the same one every time, spread over all of them', () => {
    const repos = Array.from({ length: 300 }, (_, i) => `registry.example.com/team/app${i}`);
    const seen = new Map<number, number>();
    for (const r of repos) {
      const k = shardOf(r, 3);
      expect(k).to.be.within(1, 3);
      expect(shardOf(r, 3)).to.equal(k);
      const owners = [1, 2, 3].filter((index) => shardTakes({ index, count: 3 }, r));
      expect(owners).to.deep.equal([k]);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    for (const k of [1, 2, 3]) expect(seen.get(k) ?? 0).to.be.above(50);
    // the documented function: 1 + first 4 bytes of SHA-256, big-endian, mod N
    expect(shardOf('registry.example.com/team/app', 1000)).to.equal(1 + (parseInt(sha256Prefix('registry.example.com/team/app'), 16) % 1000));
    expect(shardTakes(undefined, 'x/y')).to.equal(true);
  });
});

function sha256Prefix(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}
