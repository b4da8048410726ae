/**
 * The partial-download folder of an `oci:` layout or `dir:` destination sits inside a directory others may write to:
 * what stands there under a partial's name must never lead ferry's writes, truncations, sweeps or removals outside
 * it. Each case aims at bystander files in a directory of their own (old enough for the sweep of stale partials) and
 * checks they are untouched.
 */
import { expect } from 'chai';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PartialStore, partialFileName } from '../../src/copy/partial.js';
import { rejection } from '../harness/expect.js';
import { run } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';
import { ErrorCode, FerryError } from '../../src/errors.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
/** Older than any age limit of the sweep. */
const LONG_AGO = new Date(Date.now() - 60 * 24 * 3600 * 1000);

describe('copy: a hostile partial-download folder', () => {
  const cleanup = useCleanup();
  /** FIFOs a test made: opened for writing after it, so that a regression's open() waiting on one returns. */
  const fifos: string[] = [];
  afterEach(() => {
    for (const f of fifos.splice(0)) {
      try {
        closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader waits on it (ENXIO): nothing to release
      }
    }
  });

  /** A bystander directory holding files named like partials, their locks and start sidecars, all old. */
  async function bystanders(): Promise<{ dir: string; snapshot: () => Promise<Record<string, string>> }> {
    const dir = await cleanup.tempDir('partial-bystander');
    const names = [partialFileName(D1), `${partialFileName(D2)}.start`, 'ab-cd', 'notes.start', 'x.lock.y'];
    for (const n of names) {
      await writeFile(join(dir, n), `bystander ${n}\n`);
      await utimes(join(dir, n), LONG_AGO, LONG_AGO);
    }
    const snapshot = async () => Object.fromEntries(await Promise.all((await readdir(dir)).sort().map(async (n) => [n, await readFile(join(dir, n), 'utf8')] as const)));
    return { dir, snapshot };
  }

  it('a folder that is a symbolic link to another directory is refused, and that directory is neither swept nor written', async () => {
    const { dir: victim, snapshot } = await bystanders();
    const before = await snapshot();
    const layout = await cleanup.tempDir('partial-layout');
    await symlink(victim, join(layout, '.ferry-partial'));
    const store = new PartialStore({ dir: join(layout, '.ferry-partial'), keepUntilCommit: false });
    for (const deferred of [false, true]) {
      const e = await rejection(
        (async () => {
          const p = await store.claim(D2, { deferred });
          if (p && !(await p.acquire())) throw new Error('not acquired');
        })(),
      );
      expect(e, `deferred ${deferred}`).to.be.instanceOf(FerryError);
      expect((e as FerryError).code).to.equal(ErrorCode.Io);
      expect((e as Error).message).to.contain('not a directory');
    }
    await store.close();
    expect(await snapshot()).to.deep.equal(before);
  });

  it("symbolic links under partials' names are neither followed nor swept: claims fail, their targets stay as they were", async () => {
    const { dir: victim, snapshot } = await bystanders();
    const before = await snapshot();
    const dir = join(await cleanup.tempDir('partial-layout'), '.ferry-partial');
    await mkdir(dir);
    // a partial, a start sidecar (and its temp file) and stale-looking names, each a link to a bystander file
    await symlink(join(victim, partialFileName(D1)), join(dir, partialFileName(D1)));
    await symlink(join(victim, `${partialFileName(D2)}.start`), join(dir, `${partialFileName(D2)}.start.tmp`));
    await symlink(join(victim, 'ab-cd'), join(dir, 'ab-cd'));
    await symlink(join(victim, 'notes.start'), join(dir, 'notes.start'));
    await symlink(join(victim, 'x.lock.y'), join(dir, 'x.lock.y'));
    const store = new PartialStore({ dir, keepUntilCommit: false }, { maxAgeMs: 1000 });
    // the partial's name is a link: claimed at once (a partial is there) or deferred, nothing goes through it
    for (const deferred of [false, true]) {
      const e = await rejection(store.claim(D1, { deferred }));
      expect((e as Error).message, `deferred ${deferred}`).to.contain(`opening partial blob ${join(dir, partialFileName(D1))}`);
    }
    // a real claim whose start sidecar's temp name is a link: recording the start fails, the target is not written
    const p = (await store.claim(D2))!;
    expect(await rejection(p.setStart(4096))).to.be.instanceOf(FerryError);
    await p.remove();
    await store.close();
    expect(await snapshot()).to.deep.equal(before);
    // the sweep (age limit 1 s, the links' targets 60 days old) left the links alone too
    expect((await readdir(dir)).sort()).to.include.members(['ab-cd', 'notes.start', 'x.lock.y', partialFileName(D1)]);
  });

  it("a FIFO as a partial's start sidecar is not waited for: the claim resumes from 0", async () => {
    const dir = join(await cleanup.tempDir('partial-layout'), '.ferry-partial');
    await mkdir(dir);
    await writeFile(join(dir, partialFileName(D1)), 'partial bytes');
    const fifo = join(dir, `${partialFileName(D1)}.start`);
    expect((await run('mkfifo', [fifo])).code).to.equal(0);
    fifos.push(fifo);
    const store = new PartialStore({ dir, keepUntilCommit: false });
    // a FIFO no writer opens: an open() that waits would never return (the test's timeout would fail it)
    const p = (await store.claim(D1))!;
    expect(p.start).to.equal(0);
    await p.remove();
    await store.close();
  });
});
