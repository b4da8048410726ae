/**
 * Rootless stores, as podman and skopeo keep them: a non-root user's store holds files owned by the IDs of the user
 * namespace podman runs in — the user as 0, then the user's ranges of /etc/subuid and /etc/subgid from 1 on, in file
 * order. To write and read such a store, ferry runs itself again in a user namespace with that mapping (set up by the
 * setuid `newuidmap`/`newgidmap` of the uidmap package, as containers/storage does) and a mount namespace of its own.
 * Without subordinate IDs (or without those tools) the namespace maps the user alone, and only `ignore_chown_errors`
 * in storage.conf lets layers owned by others be stored, as with podman. Inside, `_CONTAINERS_USERNS_CONFIGURED` and
 * `_CONTAINERS_ROOTLESS_UID` say so, as in `podman unshare` (where ferry runs as is).
 */
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { constants as osConstants, userInfo } from 'node:os';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';

/** A range of subordinate IDs. */
export interface IdRange {
  start: number;
  count: number;
}

/** The ranges of `/etc/subuid` or `/etc/subgid` text that belong to user `name` or ID `id`, in file order. */
export function subIdRanges(text: string, name: string, id: number): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner === undefined || start === undefined || count === undefined || line.trim().startsWith('#')) continue;
    if (owner !== name && owner !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s >= 0 && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

/** `newuidmap`/`newgidmap` arguments after the PID: `0 ID 1`, then each range from 1 on. */
export function idMapArgs(id: number, ranges: readonly IdRange[]): string[] {
  const args = ['0', String(id), '1'];
  let inner = 1;
  for (const r of ranges) {
    args.push(String(inner), String(r.start), String(r.count));
    inner += r.count;
  }
  return args;
}

/**
 * Whether stores are rootless for this process, as containers/storage decides it: not root, or in a user namespace
 * podman or ferry set up (`_CONTAINERS_USERNS_CONFIGURED`).
 */
export function isRootless(env: NodeJS.ProcessEnv = process.env): boolean {
  return process.geteuid?.() !== 0 || env._CONTAINERS_USERNS_CONFIGURED !== undefined;
}

/** Whether this process runs in a user namespace podman or ferry set up for a rootless store. */
export function inRootlessNamespace(env: NodeJS.ProcessEnv = process.env): boolean {
  return env._CONTAINERS_USERNS_CONFIGURED !== undefined && process.getuid?.() === 0;
}

const execFileP = promisify(execFile);

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Runs `command` (argv[0] and arguments) in a new user and mount namespace with the rootless mapping, and resolves to
 * its exit status (128 + signal number when killed). The child waits on a pipe (fd 3) until the maps are written.
 * @throws Error when the namespace cannot be made (no user namespaces, `newuidmap` refused the mapping).
 */
export async function runInUserNamespace(command: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const name = userInfo().username;
  const uids = subIdRanges(readOr('/etc/subuid'), name, uid);
  const gids = subIdRanges(readOr('/etc/subgid'), name, uid);
  const full = uids.length > 0 && gids.length > 0;
  const childEnv = { ...env, _CONTAINERS_USERNS_CONFIGURED: 'done', _CONTAINERS_ROOTLESS_UID: String(uid), _CONTAINERS_ROOTLESS_GID: String(gid) };
  // Without subordinate IDs, unshare maps the user alone itself; otherwise the child, once inside its namespace, says
  // so on fd 3 (a socket pair) and waits there for newuidmap/newgidmap: written any earlier, the maps would be the
  // parent namespace's, which newuidmap may not write.
  const args = full
    ? ['--user', '--mount', '--', '/bin/sh', '-c', 'echo ready >&3 && read _ <&3 && exec 3<&- && exec "$@"', 'sh', ...command]
    : ['--user', '--mount', '--map-root-user', '--', ...command];
  const child = spawn('unshare', args, { env: childEnv, stdio: ['inherit', 'inherit', 'inherit', full ? 'pipe' : 'ignore'] });
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
  // A terminal's Ctrl-C reaches the child by itself (same process group): forwarding it too would make ferry's
  // second-interrupt rule end the child at once. Other signals, and SIGINT without a terminal, are passed on.
  const forward = (sig: NodeJS.Signals) => {
    if (sig !== 'SIGINT' || !process.stdin.isTTY) child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    if (full) {
      const gate = child.stdio[3] as Duplex;
      try {
        const ready = await Promise.race([once(gate, 'data').then(() => true, () => false), exited.then(() => false)]);
        if (!ready) throw new Error('the namespace\'s process ended before it was set up');
        await execFileP('newuidmap', [String(child.pid), ...idMapArgs(uid, uids)]);
        await execFileP('newgidmap', [String(child.pid), ...idMapArgs(gid, gids)]);
      } catch (e) {
        child.kill('SIGKILL');
        await exited.catch(() => 0);
        const err = e as { stderr?: string; message: string };
        throw new Error(`setting up the user namespace of the rootless store: ${(err.stderr ?? '').trim() || err.message}`);
      }
      gate.end('go\n');
    }
    return await exited;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}
