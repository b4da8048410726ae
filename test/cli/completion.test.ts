import { expect } from 'chai';
import path from 'node:path';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { useCleanup } from '../harness/tmp.js';
import { FERRY_BIN, ferry } from '../harness/cli.js';
import { run, runOk } from '../harness/procs.js';

describe('cli: ferry completion (bash, zsh, fish)', function () {
  this.timeout(60_000);
  const cleanup = useCleanup('after');
  let dir: string;
  let script: string;
  let binDir: string;
  before(async () => {
    dir = await cleanup.tempDir('ferry-completion-');
    binDir = path.join(dir, 'bin');
    await mkdir(binDir);
    // the script calls `ferry` on PATH, as it would once installed
    await writeFile(path.join(binDir, 'ferry'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FERRY_BIN)} "$@"\n`);
    await chmod(path.join(binDir, 'ferry'), 0o755);
    const r = await ferry(['completion', 'bash']);
    expect(r.code, r.stderr).to.equal(0);
    script = path.join(dir, 'ferry.bash');
    await writeFile(script, r.stdout);
    await mkdir(path.join(dir, 'images/layout-a'), { recursive: true });
    await mkdir(path.join(dir, 'images/layout-b'));
    await writeFile(path.join(dir, 'images/app.tar'), '');
  });

  /** What a real bash's completion function offers for `line` typed so far (cursor at its end). */
  async function complete(line: string): Promise<string[]> {
    const body = `source ${JSON.stringify(script)}
COMP_LINE=${JSON.stringify(line)}
COMP_POINT=\${#COMP_LINE}
read -r -a COMP_WORDS <<< "$COMP_LINE"
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
[[ "$COMP_LINE" == *" " ]] && COMP_CWORD=\${#COMP_WORDS[@]}
_ferry_completions
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await runOk('bash', ['--norc', '--noprofile', '-c', body], { env: { PATH: `${binDir}:${process.env['PATH']}` }, cwd: dir });
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  it('completes commands, options and option choices', async () => {
    expect(await complete('ferry ins')).to.deep.equal(['inspect']);
    expect(await complete('ferry copy --src-tls')).to.deep.equal(['--src-tls-verify']);
    expect(await complete('ferry copy --multi-arch ')).to.deep.equal(['system', 'all', 'index-only']);
    expect(await complete('ferry completion ')).to.deep.equal(['bash', 'zsh', 'fish']);
    // an option's free value: nothing from ferry, so bash completes file names
    expect(await complete('ferry copy --authfile ')).to.deep.equal([]);
  });

  it('completes transports, then paths for the transports that take one', async () => {
    expect(await complete('ferry copy ')).to.include.members(['docker://', 'oci:', 'oci-archive:', 'dir:', 'docker-archive:', 'containers-storage:', 'docker-daemon:', 'tarball:', 'sif:']);
    expect(await complete('ferry inspect doc')).to.deep.equal(['docker://', 'docker-archive:', 'docker-daemon:']);
    // bash already took "oci:" as typed (':' breaks words): the candidates continue after it
    expect(await complete(`ferry copy oci:${dir}/images/layout-`)).to.deep.equal([`${dir}/images/layout-a/`, `${dir}/images/layout-b/`]);
    expect(await complete('ferry copy docker://busybox oci:images/')).to.deep.equal(['images/app.tar', 'images/layout-a/', 'images/layout-b/']);
    expect(await complete('ferry copy docker://busybox docker-archive:images/a')).to.deep.equal(['images/app.tar']);
    expect(await complete('ferry copy docker://reg')).to.deep.equal([]);
  });

  it('prints zsh and fish scripts calling the same completion', async () => {
    const zsh = await ferry(['completion', 'zsh']);
    expect(zsh.stdout).to.match(/^#compdef ferry\n/).and.contain('ferry --get-yargs-completions');
    const fish = await ferry(['completion', 'fish']);
    expect(fish.stdout).to.contain("complete -c ferry -f -a '(__ferry_complete)'").and.contain('ferry --get-yargs-completions');
    const bad = await ferry(['completion', 'tcsh']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.contain('Choices: "bash", "zsh", "fish"');
    for (const [shell, text] of [['zsh', zsh.stdout], ['fish', fish.stdout]] as const) {
      const has = await run('sh', ['-c', `command -v ${shell}`]);
      if (has.code !== 0) continue;
      const f = path.join(dir, `ferry.${shell}`);
      await writeFile(f, text);
      await runOk(shell, ['-n', f]);
    }
  });
});
