/**
 * The names of ferry's commands. main.ts keys its command table by them (the compiler keeps the two equal); the
 * tests that run every command take the list from here.
 */
export const COMMAND_NAMES = ['completion', 'copy', 'delete', 'generate-sigstore-key', 'inspect', 'list-tags', 'manifest-digest', 'login', 'logout', 'standalone-sign', 'standalone-verify', 'store', 'sync', 'untrusted-signature-dump-without-verification', 'verify-archive'] as const;

/** One of {@link COMMAND_NAMES}. */
export type CommandName = (typeof COMMAND_NAMES)[number];
