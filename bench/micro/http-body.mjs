#!/usr/bin/env node
// Micro-benchmark: undici response-body throughput (the path `ferry copy` pulls blobs through), to check the
// effect of V8 WebAssembly flags on undici's llhttp parser (such as --liftoff-only; see docs/performance.md, "Start-up").
// A child process serves MiB bytes (Content-Length, or chunked with --chunked) on 127.0.0.1; this process fetches it
// RUNS times with undici's Agent and reports MiB/s and CPU s per run. Pass V8 flags to node to compare, e.g.
//   node bench/micro/http-body.mjs 1024 3            and   node --liftoff-only bench/micro/http-body.mjs 1024 3
// Usage: node [V8 flags] bench/micro/http-body.mjs [MiB=1024] [RUNS=3] [--chunked]
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [mib = 1024, runs = 3] = process.argv.slice(2).filter((a) => !a.startsWith('--')).map(Number);
const chunked = process.argv.includes('--chunked');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { Agent } = createRequire(path.join(root, 'package.json'))('undici');

const server = spawn(process.execPath, ['-e', `
  const http = require('node:http');
  const block = Buffer.alloc(1 << 20, 7);
  const total = ${mib};
  http.createServer((req, res) => {
    res.writeHead(200, ${chunked} ? {} : { 'content-length': total * block.length });
    let n = 0;
    const more = () => { while (n < total) { n++; if (!res.write(block)) return res.once('drain', more); } res.end(); };
    more();
  }).listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n'); });
`], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise((resolve) => server.stdout.once('data', (d) => resolve(Number(String(d)))));
const agent = new Agent();
try {
  for (let i = 0; i < runs; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const res = await agent.request({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' });
    let bytes = 0;
    for await (const chunk of res.body) bytes += chunk.length;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(cpu0);
    console.log(`${(bytes / 2 ** 20).toFixed(0)} MiB${chunked ? ' chunked' : ''}: ${(bytes / 2 ** 20 / s).toFixed(0)} MiB/s, client CPU ${((c.user + c.system) / 1e6).toFixed(2)} s`);
  }
} finally {
  await agent.close();
  server.kill();
}
