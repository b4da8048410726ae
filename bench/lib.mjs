// Shared helpers for the benchmarks: run a command under /usr/bin/time, alternate tools, summarize.
import { spawn } from 'node:child_process';

/** Runs cmd under `/usr/bin/time -f '%e %U %S %M'` and returns wall ms (measured here), user+sys s and peak RSS KiB. */
export function timed(cmd, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '__TIME__ %e %U %S %M', cmd, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
      const m = /__TIME__ (\S+) (\S+) (\S+) (\d+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.slice(-500)}`));
      resolve({ wallMs, cpuS: Number(m[2]) + Number(m[3]), rssKiB: Number(m[4]) });
    });
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/**
 * Runs each case `runs` times, alternating ferry and skopeo (ferry first on even runs, skopeo first on odd ones),
 * with `before(tool, i)` to reset state; returns the per-tool samples.
 */
export async function alternate(runs, tools, before = async () => {}) {
  const samples = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  const names = Object.keys(tools);
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      await before(name, i);
      samples[name].push(await tools[name](i));
    }
  }
  return samples;
}

/** One line per case: median wall of each tool, ratio ferry/skopeo, median user+sys CPU, max peak RSS. */
export function summarize(label, samples) {
  const f = samples.ferry, s = samples.skopeo;
  const mw = (xs) => median(xs.map((x) => x.wallMs));
  const mc = (xs) => median(xs.map((x) => x.cpuS));
  const rss = (xs) => Math.max(...xs.map((x) => x.rssKiB)) / 1024;
  return {
    case: label,
    runs: f.length,
    'ferry ms': mw(f).toFixed(1),
    'skopeo ms': mw(s).toFixed(1),
    ratio: (mw(f) / mw(s)).toFixed(2),
    'ferry cpu s': mc(f).toFixed(3),
    'skopeo cpu s': mc(s).toFixed(3),
    'ferry peak MiB': rss(f).toFixed(1),
    'skopeo peak MiB': rss(s).toFixed(1),
  };
}

/** Prints rows as a Markdown table (ready to paste into docs/performance.md). */
export function printTable(rows) {
  const cols = Object.keys(rows[0]);
  console.log(`| ${cols.join(' | ')} |`);
  console.log(`|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => r[c]).join(' | ')} |`);
}
