import { expect } from 'chai';
import { ferry } from '../harness/cli.js';

/** The option names a help text lists (`--name`, first column only). */
const listed = (help: string) => new Set([...help.matchAll(/^\s+(?:-\w, )?(--[\w.-]+)/gm)].map((m) => m[1]!));

/** The help entry of option `name`: its line and the wrapped lines after it. */
function entry(help: string, name: string): string {
  const lines = help.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^\\s+(?:-\\w, )?${name.replace(/[.]/g, '\\.')}\\s`).test(l));
  if (i < 0) return '';
  let j = i + 1;
  while (j < lines.length && /^\s{8,}\S/.test(lines[j]!) && !/^\s+(?:-\w, )?--/.test(lines[j]!)) j++;
  return lines.slice(i, j).join(' ').replace(/\s+/g, ' ');
}

describe('cli: help shows defaults and only the options a command takes', () => {
  it('shows the defaults of retries, parallel copies, TLS and multi-arch', async () => {
    const copy = (await ferry(['copy', '--help'])).stdout;
    expect(entry(copy, '--retry-times')).to.contain('[number] [default: 3]');
    expect(entry(copy, '--image-parallel-copies')).to.contain('[number] [default: 6; 4 into containers-storage: and docker-archive:]');
    expect(entry(copy, '--multi-arch')).to.contain('[default: system]');
    expect(entry(copy, '--src-tls-verify')).to.contain('[boolean] [default: true, unless registries.conf says insecure]');
    const sync = (await ferry(['sync', '--help'])).stdout;
    expect(entry(sync, '--image-parallel-copies')).to.contain('[number] [default: 6]');
    expect(entry(sync, '--retry-times')).to.contain('[default: 3]');
    expect(entry((await ferry(['inspect', '--help'])).stdout, '--retry-times')).to.contain('[default: 3]');
  });

  it('lists the trust policy flags only for copy and sync, and registry configuration only where a registry is used', async () => {
    const copy = listed((await ferry(['copy', '--help'])).stdout);
    for (const f of ['--policy', '--insecure-policy', '--registries-conf', '--registries.d', '--override-arch', '--tmpdir']) expect(copy).to.include(f);
    const inspect = listed((await ferry(['inspect', '--help'])).stdout);
    expect(inspect).to.include('--override-arch').and.include('--registries-conf');
    expect(inspect).not.to.include('--policy');
    expect(inspect).not.to.include('--insecure-policy');
    expect(inspect).not.to.include('--registries.d');
    const sign = listed((await ferry(['standalone-sign', '--help'])).stdout);
    for (const f of ['--policy', '--registries-conf', '--registries.d', '--override-os', '--tmpdir']) expect(sign).not.to.include(f);
    expect(sign).to.include('--debug').and.include('--command-timeout');
    // still accepted, as skopeo's global flags are
    const r = await ferry(['--insecure-policy', 'manifest-digest', '--help']);
    expect(r.code).to.equal(0);
    // the overview lists every global flag
    expect(listed((await ferry(['--help'])).stdout)).to.include('--policy').and.include('--registries.d');
  });
});
