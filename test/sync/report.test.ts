/** `sync --report`: lines in source order whatever the finishing order; never half-written; never over a non-file. */
import { expect } from 'chai';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncReport, type ReportEntry } from '../../src/sync/report.js';
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
});
