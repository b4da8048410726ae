/**
 * A home of its own for each test of an auth-file suite: the variables that choose auth files are unset (but
 * `XDG_RUNTIME_DIR`, pointed into the home), `PATH` may be changed by the test; all of them are put back after it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeDir } from './tmp.js';

/** The variables auth-file lookups read, saved and restored around each test (`PATH`: for credential helpers). */
const SAVED_ENV = ['REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME', 'DOCKER_CONFIG', 'PATH'] as const;

export interface AuthHome {
  /** The running test's home (a fresh temp directory). */
  readonly home: string;
  /** Writes `content` (JSON, or a string as it is) to `rel` under the home, making its folders; returns the path. */
  write(rel: string, content: unknown): Promise<string>;
}

/** Registers the suite's beforeEach/afterEach (call it inside `describe`, before hooks that use the home). */
export function useAuthHome(prefix: string): AuthHome {
  let home = '';
  const saved = new Map<string, string | undefined>();
  beforeEach(async () => {
    home = await makeTempDir(prefix);
    for (const k of SAVED_ENV) {
      saved.set(k, process.env[k]);
      if (k !== 'PATH') delete process.env[k];
    }
    process.env['XDG_RUNTIME_DIR'] = join(home, 'run');
  });
  afterEach(async () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await removeDir(home);
  });
  return {
    get home() {
      return home;
    },
    async write(rel, content) {
      const p = join(home, rel);
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content));
      return p;
    },
  };
}
