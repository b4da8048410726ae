/**
 * A Docker credential helper the tests write: `docker-credential-NAME` in a temp `bin` folder, a small Node script
 * keeping one JSON file per server in its state folder and logging every call (action and server, never the secret).
 * It speaks the docker-credential-helpers protocol, including the `credentials not found in native keychain` answer.
 * `FERRY_TEST_HELPER_FAIL=1` in its environment (or a `fail` file in its state folder) makes it print
 * {@link HELPER_LEAK} on stdout and stderr and exit 3, to check that nothing it prints reaches ferry's output.
 */
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** What a failing helper prints: must never appear in ferry's output. */
export const HELPER_LEAK = 'helper-said-SECRET-0xC0FFEE';

export interface TestCredHelper {
  /** The helper's name (`NAME` of `docker-credential-NAME`). */
  name: string;
  /** Folder holding the program: put it first on `PATH`. */
  binDir: string;
  /** Folder of its entries (`<hex of server>.json`) and its call log. */
  stateDir: string;
  /** `PATH` with {@link binDir} first. */
  path: string;
  /** Calls made so far, `ACTION SERVER` (`list` alone). */
  calls(): Promise<string[]>;
  /** The entry stored for `server`, if any. */
  entry(server: string): Promise<{ ServerURL: string; Username: string; Secret: string } | undefined>;
  /** Stores an entry directly. */
  put(server: string, username: string, secret: string): Promise<void>;
  /** Makes every later call fail (or succeed again). */
  setFailing(on: boolean): Promise<void>;
}

const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

function program(stateDir: string): string {
  return `#!${process.execPath}
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const state = ${JSON.stringify(stateDir)};
const LEAK = ${JSON.stringify(HELPER_LEAK)};
const action = process.argv[2];
const input = fs.readFileSync(0, 'utf8');
const file = (server) => path.join(state, Buffer.from(server, 'utf8').toString('hex') + '.json');
if (process.env.FERRY_TEST_HELPER_FAIL === '1' || fs.existsSync(path.join(state, 'fail'))) {
  process.stdout.write(LEAK + '\\n');
  process.stderr.write(LEAK + '\\n');
  process.exit(3);
}
const notFound = () => { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); };
if (action === 'get' || action === 'erase') {
  fs.appendFileSync(path.join(state, 'calls.log'), action + ' ' + input + '\\n');
  if (!fs.existsSync(file(input))) notFound();
  if (action === 'get') process.stdout.write(fs.readFileSync(file(input)));
  else fs.unlinkSync(file(input));
} else if (action === 'store') {
  const j = JSON.parse(input);
  fs.appendFileSync(path.join(state, 'calls.log'), 'store ' + j.ServerURL + '\\n');
  fs.writeFileSync(file(j.ServerURL), JSON.stringify(j));
} else if (action === 'list') {
  fs.appendFileSync(path.join(state, 'calls.log'), 'list\\n');
  const out = {};
  for (const f of fs.readdirSync(state)) {
    if (!f.endsWith('.json')) continue;
    const j = JSON.parse(fs.readFileSync(path.join(state, f), 'utf8'));
    out[j.ServerURL] = j.Username;
  }
  process.stdout.write(JSON.stringify(out));
} else {
  process.stdout.write('unknown action\\n');
  process.exit(1);
}
`;
}

/** Writes `docker-credential-<name>` into `dir/bin`, with its state in `dir/state`. */
export async function writeCredHelper(dir: string, name = 'ferrytest'): Promise<TestCredHelper> {
  const binDir = path.join(dir, 'bin');
  const stateDir = path.join(dir, 'state');
  await mkdir(binDir, { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const prog = path.join(binDir, `docker-credential-${name}`);
  await writeFile(prog, program(stateDir));
  await chmod(prog, 0o755);
  const entryFile = (server: string) => path.join(stateDir, `${hex(server)}.json`);
  return {
    name,
    binDir,
    stateDir,
    path: `${binDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
    async calls() {
      const text = await readFile(path.join(stateDir, 'calls.log'), 'utf8').catch(() => '');
      return text.split('\n').filter((l) => l !== '');
    },
    async entry(server) {
      const text = await readFile(entryFile(server), 'utf8').catch(() => undefined);
      return text === undefined ? undefined : (JSON.parse(text) as { ServerURL: string; Username: string; Secret: string });
    },
    async put(server, username, secret) {
      await writeFile(entryFile(server), JSON.stringify({ ServerURL: server, Username: username, Secret: secret }));
    },
    async setFailing(on) {
      const f = path.join(stateDir, 'fail');
      if (on) await writeFile(f, '');
      else await import('node:fs/promises').then((fs) => fs.rm(f, { force: true }));
    },
  };
}

/** The entries a helper's state folder holds (for checks that nothing is left). */
export async function helperEntries(h: TestCredHelper): Promise<string[]> {
  return (await readdir(h.stateDir)).filter((f) => f.endsWith('.json'));
}
