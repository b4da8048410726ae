/**
 * Loaded by mocha before any test (.mocharc.json `require`): keeps the suite off the user's own state.
 * Caches (the blob-location cache) and the runtime auth file go to a temp dir removed at exit;
 * child processes (ferry, skopeo) inherit the same environment.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-test-env-'));
process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
process.env.XDG_RUNTIME_DIR = path.join(dir, 'run');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
