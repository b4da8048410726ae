/** A throw-away GnuPG home for tests: keys generated in it, its gpg-agent stopped and its folder removed at cleanup. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Cleanup } from '../harness/tmp.js';
import { run, type RunResult } from '../harness/procs.js';

/** A temporary GNUPGHOME. */
export interface GpgHome {
  /** The directory (the value of GNUPGHOME). */
  dir: string;
  /** `{ GNUPGHOME: dir }`, to merge into an environment. */
  env: { GNUPGHOME: string };
  /** Runs gpg in this home (batch mode). */
  gpg(args: string[], input?: string): Promise<RunResult>;
  /**
   * Generates a signing key (ed25519, no expiry) for `uid`, protected by `passphrase` if given, and returns its
   * fingerprint.
   */
  generateKey(uid: string, passphrase?: string): Promise<string>;
  /** Exports a key (public, or secret with `passphrase` for a protected one) to a file in the home; returns the path. */
  exportKey(fingerprint: string, kind: 'public' | 'secret', opts?: { armor?: boolean; passphrase?: string }): Promise<string>;
}

/** Creates a GNUPGHOME whose agent is killed and folder removed by `cleanup`. */
export async function makeGpgHome(cleanup: Cleanup, prefix = 'gpg'): Promise<GpgHome> {
  const dir = await cleanup.tempDir(prefix);
  const env = { GNUPGHOME: dir };
  cleanup.defer(async () => {
    await run('gpgconf', ['--kill', 'gpg-agent'], { env, timeoutMs: 10_000 });
  });
  const gpg = (args: string[], input?: string) => run('gpg', ['--batch', '--no-tty', ...args], { env, input, timeoutMs: 30_000 });
  let exported = 0;
  return {
    dir,
    env,
    gpg,
    async generateKey(uid, passphrase) {
      const r = await gpg(['--pinentry-mode', 'loopback', '--passphrase', passphrase ?? '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never']);
      if (r.code !== 0) throw new Error(`gpg --quick-gen-key failed: ${r.stderr}`);
      const list = await gpg(['--with-colons', '--list-secret-keys', uid]);
      const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)?.[1];
      if (!fpr) throw new Error(`no fingerprint for ${uid}: ${list.stdout}`);
      return fpr;
    },
    async exportKey(fingerprint, kind, opts = {}) {
      const args = ['--pinentry-mode', 'loopback', '--passphrase', opts.passphrase ?? ''];
      if (opts.armor) args.push('--armor');
      args.push(kind === 'public' ? '--export' : '--export-secret-keys', fingerprint);
      const r = await gpg(args);
      if (r.code !== 0 || r.stdoutBytes.length === 0) throw new Error(`gpg export failed: ${r.stderr}`);
      const file = path.join(dir, `export-${++exported}.${opts.armor ? 'asc' : 'gpg'}`);
      await writeFile(file, r.stdoutBytes);
      return file;
    },
  };
}
