/**
 * Loaded by mocha before any test (.mocharc.json `require`): keeps the suite off the user's own state.
 * Caches (the blob-location cache) and the runtime auth file go to a temp dir removed at exit;
 * child processes (ferry, skopeo) inherit the same environment.
 * The trust policy of the tests that are not about policy is an explicit accept-anything file (never the machine's
 * policy.json): `test/harness/cli.ts` passes it with `--policy` unless a test gives its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-test-env-'));
process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
process.env.XDG_RUNTIME_DIR = path.join(dir, 'run');
const policy = path.join(dir, 'policy.json');
writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
process.env.FERRY_TEST_POLICY = policy;
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
