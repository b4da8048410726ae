/** `sync --report`: lines in source order whatever the finishing order; never half-written; never over a non-file. */
import { expect } from 'chai';
import { lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncReport, type ReportEntry } from '../../src/sync/report.js';
import { ErrorCode } from '../../src/errors.js';
import { rejection } from '../harness/expect.js';
import { runOk } from '../harness/procs.js';
import { useCleanup } from '../harness/tmp.js';

const entry = (n: number): ReportEntry => ({ source: `s${n}`, destination: `d${n}`, digest: '', action: 'copied', bytes: n, seconds: 0, error: '' });

describe('sync/report: SyncReport', () => {
  const cleanup = useCleanup();

  it('writes entries in position order, leaves out positions recorded as null, and appears only at close', async () => {
    const dir = await cleanup.tempDir('sync-report');
    const file = join(dir, 'r.jsonl');
    await writeFile(file, 'old\n');
    const r = await SyncReport.create(file);
    r.record(2, entry(2));
    r.record(0, entry(0));
    r.record(1, null);
    r.record(4, entry(4)); // 3 never recorded: written at close after the others
    expect(await readFile(file, 'utf8')).to.equal('old\n');
    await r.close();
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => (JSON.parse(l) as ReportEntry).source);
    expect(lines).to.deep.equal(['s0', 's2', 's4']);
    expect(await readdir(dir)).to.deep.equal(['r.jsonl']);
  });

  it('refuses a path that exists and is not a regular file', async () => {
    const dir = await cleanup.tempDir('sync-report');
    await mkdir(join(dir, 'sub'));
    let got: unknown;
    await SyncReport.create(join(dir, 'sub')).catch((e: unknown) => (got = e));
    expect(String(got)).to.match(/is not a regular file/);
  });

  it('writes into a FIFO (a stream, as /dev/stdout is) as the lines become known, and leaves it a FIFO', async () => {
    const dir = await cleanup.tempDir('sync-report');
    const fifo = join(dir, 'r.fifo');
    await runOk('mkfifo', [fifo]);
    const reading = readFile(fifo, 'utf8');
    const r = await SyncReport.create(fifo);
    r.record(1, entry(1));
    r.record(0, entry(0));
    await r.close();
    const lines = (await reading).trimEnd().split('\n').map((l) => (JSON.parse(l) as ReportEntry).source);
    expect(lines).to.deep.equal(['s0', 's1']);
    expect((await lstat(fifo)).isFIFO()).to.equal(true);
    expect(await readdir(dir)).to.deep.equal(['r.fifo']);
  });

  it('never replaces what FILE became during the sync when it is no longer a regular file (a symlink to a bystander)', async () => {
    const dir = await cleanup.tempDir('sync-report');
    const file = join(dir, 'r.jsonl');
    const bystander = join(dir, 'bystander');
    await writeFile(bystander, 'keep\n');
    await writeFile(file, 'old\n');
    const r = await SyncReport.create(file);
    r.record(0, entry(0));
    await rm(file);
    await symlink(bystander, file);
    const e = await rejection(r.close());
    expect(e.code).to.equal(ErrorCode.Io);
    expect(e.message).to.equal(`report file ${file} exists and is not a regular file`);
    expect((await lstat(file)).isSymbolicLink()).to.equal(true);
    expect(await readFile(bystander, 'utf8')).to.equal('keep\n');
    expect((await readdir(dir)).sort()).to.deep.equal(['bystander', 'r.jsonl']);
  });
});
