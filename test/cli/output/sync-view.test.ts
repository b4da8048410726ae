/**
 * The live view of a parallel sync on a terminal (src/cli/output/sync-view.ts): written to a stream that says it is
 * a terminal and replayed on a small terminal model (cursor up, clear to the end of the screen); then the real
 * bin/ferry on a pseudo-terminal (util-linux `script`).
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { SyncView, fitLine } from '../../../src/cli/output/sync-view.js';
import { FERRY_BIN, withTestPolicy } from '../../harness/cli.js';
import { buildImage, pushImage } from '../../harness/images.js';
import { run } from '../../harness/procs.js';
import { useRegistry } from '../../harness/registry.js';
import { useCleanup } from '../../harness/tmp.js';
import { hasCommand } from '../../store/helpers.js';

/** The screen lines after replaying `out` (text, `\n`, `\r`, ESC[nA, ESC[J; other escapes ignored). */
function screen(out: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  for (let i = 0; i < out.length; ) {
    const esc = /^\u001b\[([0-9;?]*)([A-Za-z])/.exec(out.slice(i));
    if (esc) {
      const n = Number(esc[1] || '1');
      if (esc[2] === 'A') row = Math.max(0, row - n);
      else if (esc[2] === 'J') {
        lines.length = row + 1;
        lines[row] = lines[row]!.slice(0, col);
      } else if (esc[2] === 'K') lines[row] = lines[row]!.slice(0, col);
      else if (esc[2] === 'G') col = Math.max(0, n - 1);
      i += esc[0].length;
      continue;
    }
    const ch = out[i]!;
    i++;
    if (ch === '\n') {
      row++;
      col = 0;
      while (lines.length <= row) lines.push('');
    } else if (ch === '\r') col = 0;
    else if (ch >= ' ') {
      const l = lines[row]!.padEnd(col);
      lines[row] = l.slice(0, col) + ch + l.slice(col + 1);
      col++;
    }
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** A stream that says it is a terminal of `columns` columns and keeps what is written. */
function terminal(columns: number): Writable & { isTTY: boolean; columns: number; text: () => string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  return Object.assign(w, { isTTY: true, columns, text: () => chunks.join('') });
}

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

describe('cli/output/sync-view', function () {
  it('keeps finished lines, rewrites the block of images in progress, and leaves nothing of it at the end', async () => {
    const tty = terminal(80);
    let t = 1000;
    const view = new SyncView(tty, { intervalMs: 0, now: () => t });
    view.start(0, 1, 2, 'docker://reg/app:v1');
    view.start(1, 2, 2, 'docker://reg/app:v2');
    expect(screen(tty.text())).to.deep.equal(['1/2 docker://reg/app:v1 starting', '2/2 docker://reg/app:v2 starting']);
    view.onImage(0, { kind: 'image-plan', digest: D1, blobs: 1, size: 2048, unknownSizes: 0 });
    view.onImage(1, { kind: 'image-plan', digest: D2, blobs: 1, size: 4096, unknownSizes: 0 });
    view.onProgress(0, { kind: 'start', digest: D1, size: 2048, offset: 0 });
    t = 2000;
    view.onProgress(0, { kind: 'bytes', digest: D1, size: 2048, offset: 1024 });
    view.line('Waiting 2s for registry reg: it answered 429 (too many requests)');
    expect(screen(tty.text())).to.deep.equal([
      'Waiting 2s for registry reg: it answered 429 (too many requests)',
      '1/2 docker://reg/app:v1 1.0KiB / 2.0KiB, 1.0KiB/s, blobs 0/1',
      '2/2 docker://reg/app:v2 0B / 4.0KiB, -, blobs 0/1',
    ]);
    view.onProgress(0, { kind: 'done', digest: D1, size: 2048, offset: 2048 });
    view.end(0);
    view.line('Copied image ref 1/2 from docker://reg/app:v1 to dir:/x/app:v1');
    expect(screen(tty.text())).to.deep.equal([
      'Waiting 2s for registry reg: it answered 429 (too many requests)',
      'Copied image ref 1/2 from docker://reg/app:v1 to dir:/x/app:v1',
      '2/2 docker://reg/app:v2 0B / 4.0KiB, -, blobs 0/1',
    ]);
    await view.finish();
    expect(screen(tty.text())).to.deep.equal([
      'Waiting 2s for registry reg: it answered 429 (too many requests)',
      'Copied image ref 1/2 from docker://reg/app:v1 to dir:/x/app:v1',
    ]);
    view.line('Synced 2 images from 1 sources');
    expect(screen(tty.text()).at(-1)).to.equal('Synced 2 images from 1 sources');
  });

  it('fits a live line to the terminal and drops control characters from names', () => {
    expect(fitLine('1/1 docker://reg/\u001b[2Japp:v1 done', 80)).to.equal('1/1 docker://reg/[2Japp:v1 done');
    const cut = fitLine(`1/1 ${'x'.repeat(100)}`, 20);
    expect(cut).to.have.length(20);
    expect(cut.endsWith('…')).to.equal(true);
    const tty = terminal(30);
    const view = new SyncView(tty, { intervalMs: 0 });
    view.start(0, 1, 1, `docker://reg/${'y'.repeat(80)}:v1`);
    for (const l of screen(tty.text())) expect(l.length).to.be.at.most(29);
  });

  describe('on a pseudo-terminal (real bin/ferry)', function () {
    this.timeout(120_000);
    const registry = useRegistry('http');
    const cleanup = useCleanup();

    it('ferry sync --parallel-images 2 draws the images in progress and leaves only the finished lines', async function () {
      if (!hasCommand('script')) this.skip();
      const dir = await cleanup.tempDir('sync-view-pty');
      await writeFile(join(dir, 'empty.conf'), '');
      for (const [i, tag] of ['v1', 'v2', 'v3'].entries()) {
        await pushImage(await buildImage(join(dir, 'img', tag), { seed: 900 + i, layers: 2, layerSize: 200_000 }), registry(), `view/app:${tag}`);
      }
      const out = join(dir, 'out');
      const args = withTestPolicy(['sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', '--parallel-images', '2', '--progress', 'tty', `${registry().host}/view/app`, out]);
      const cmd = [process.execPath, FERRY_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const env = { CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf'), HOME: dir, COLUMNS: '120', LINES: '40' };
      const r = await run('script', ['-qec', `stty cols 120 rows 40; ${cmd}`, '/dev/null'], { env, timeoutMs: 90_000 });
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      // the live block was drawn (cursor moved up over it) …
      expect(r.stdout).to.match(/\u001b\[\d+A\u001b\[J/);
      expect(r.stdout).to.match(/\d\/3 docker:\/\/[^\r\n]*view\/app:v\d [^\r\n]*blobs \d\/\d/);
      // … and at the end only permanent lines are left
      const lines = screen(r.stdout.replace(/\r\n/g, '\n'));
      expect(lines.filter((l) => / blobs \d+\/\d+$/.test(l))).to.deep.equal([]);
      expect(lines.filter((l) => l.startsWith('Copied image ref '))).to.have.length(3);
      expect(lines.at(-1)).to.equal('Synced 3 images from 1 sources');
    });
  });
});
