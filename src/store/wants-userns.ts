/**
 * Whether a command needs the rootless user namespace (store/userns.ts). Apart from it, with no imports, because the
 * CLI asks before every command, and the namespace code loads Node's child_process.
 */

/**
 * Whether a command line needs the user namespace: a non-root user, not in one already, running `store` (`command`,
 * the command word) or naming a `containers-storage:` image in `argv`.
 */
export function wantsUserNamespace(command: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if ((process.getuid?.() ?? 0) === 0 || env._CONTAINERS_USERNS_CONFIGURED !== undefined) return false;
  if (argv.includes('--help') || argv.includes('-h')) return false;
  return command === 'store' || argv.some((a) => a.startsWith('containers-storage:'));
}
