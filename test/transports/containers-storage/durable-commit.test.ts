/**
 * A commit into containers-storage puts its layers' content on disk before the layers.json write that clears their
 * "incomplete" flag: what a power cut would lose can only be content still marked incomplete (removed by the next
 * writer), never content of a layer recorded complete. Checked on the order of the system calls of the real
 * `bin/ferry copy` under strace (pulling the plug is not possible here): one syncfs(2) of the store's file system
 * after the last write of layer content (files, tar-split) and the last rename of it into place, and before the
 * rename of layers.json that clears the flag, which comes before the rename of images.json.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FERRY_BIN, withTestPolicy } from '../../harness/cli.js';
import { run } from '../../harness/procs.js';
import { hasCommand, isRoot, removeStore, tempStore } from '../../store/helpers.js';
import { buildTar } from '../../store/tar-build.js';
import { writeLayout } from './layout.js';

const files = (dir: string, n: number) => [
  { name: `${dir}/`, type: 'dir' as const },
  ...Array.from({ length: n }, (_, i) => ({ name: `${dir}/f${i}`, data: `${dir} ${i} `.repeat(200) })),
];

describe('containers-storage: layer content is flushed to disk before the layers are recorded complete (strace, real bin/ferry)', function () {
  this.timeout(180_000);

  for (const driver of ['vfs', 'overlay'] as const) {
    describe(driver, () => {
      let t: ReturnType<typeof tempStore>;

      before(function () {
        if (!isRoot || !hasCommand('strace')) this.skip();
      });
      beforeEach(() => {
        t = tempStore(`ferry-durable-${driver}-`);
      });
      afterEach(() => t && removeStore(t.dir));

      it('syncfs comes after the last content write and rename, before the layers.json rename that clears the flag', async () => {
        const src = join(t.dir, 'src');
        // two layers: on vfs the second is a copy of the first (written by cp) with its own files merged in
        writeLayout(src, 'v', [buildTar(files('base', 20)), buildTar(files('app', 20))]);
        const log = join(t.dir, 'strace.log');
        const args = withTestPolicy(['copy', '--quiet', `oci:${src}:v`, `containers-storage:[${driver}@${t.G}+${t.R}]example.com/durable:1`]);
        const calls = 'syncfs,sync,fsync,fdatasync,write,pwrite64,writev,pwritev,copy_file_range,sendfile,rename,renameat,renameat2';
        const r = await run('strace', ['-f', '-qq', '-y', '-s', '0', '-o', log, '-e', `trace=${calls}`, process.execPath, FERRY_BIN, ...args], { timeoutMs: 120_000 });
        expect(r.code, r.stderr).to.equal(0);
        const lines = readFileSync(log, 'utf8').split('\n');

        const content = join(t.G, driver) + '/';
        const layersDir = join(t.G, `${driver}-layers`) + '/';
        /** Writes of layer content: files under the driver's directory, the tar-split temp files. */
        const isContentWrite = (l: string) =>
          /\b(write|pwrite64|writev|pwritev|copy_file_range|sendfile)\(\d+</.test(l) && (l.includes(`<${content}`) || l.includes(`<${layersDir}.ferry-`));
        /** Renames of layer content into place (staging directory, tar-split). */
        const isContentRename = (l: string) => /\brename(at2?)?\(/.test(l) && (l.includes(`"${content}`) || l.includes('.tar-split.gz"'));
        const renamesOnto = (file: string) => lines.flatMap((l, i) => (/\brename(at2?)?\(/.test(l) && l.includes(`, "${file}"`) ? [i] : []));
        const indexes = (f: (l: string) => boolean) => lines.flatMap((l, i) => (f(l) ? [i] : []));

        const syncs = indexes((l) => /\bsyncfs\(/.test(l));
        expect(syncs, 'syncfs calls').to.have.lengthOf(1);
        const sync = syncs[0]!;
        expect(lines[sync]).to.match(/syncfs\(\d+<\//);
        expect(lines[sync], 'syncfs of a directory on the store').to.contain(`<${t.G}/`);

        const writes = indexes(isContentWrite);
        const contentRenames = indexes(isContentRename);
        expect(writes.length, 'content writes seen').to.be.greaterThan(10);
        expect(contentRenames.length, 'content renames seen').to.be.greaterThan(1);
        const layersJson = renamesOnto(join(t.G, `${driver}-layers`, 'layers.json'));
        const imagesJson = renamesOnto(join(t.G, `${driver}-images`, 'images.json'));
        // marked incomplete, then cleared
        expect(layersJson, 'layers.json renames').to.have.lengthOf(2);
        expect(imagesJson, 'images.json renames').to.have.lengthOf(1);

        // (the content is written while the layers are staged, before the commit)
        expect(layersJson[0]!, 'layers marked incomplete before their content is moved into place').to.be.below(contentRenames[0]!);
        expect(Math.max(...writes), 'last content write before syncfs').to.be.below(sync);
        expect(Math.max(...contentRenames), 'last content rename before syncfs').to.be.below(sync);
        expect(sync, 'syncfs before the flag is cleared').to.be.below(layersJson[1]!);
        expect(layersJson[1]!, 'layers complete before the image record').to.be.below(imagesJson[0]!);
      });
    });
  }
});
