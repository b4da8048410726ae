/**
 * Removes what could be a credential from text shown to the user: the `user:password@` (or `user@`) part of an image
 * name or URL someone typed, e.g. `docker://me:s3cret@registry.example/app` → `docker://***@registry.example/app`.
 * Applied to every error line the CLI prints (see `cli/exit.ts`) and where references are rendered in errors.
 *
 * A word (a run of characters other than white space, quotes, parentheses and braces) is rewritten when it has a `@` that
 * separates user information from a host:
 * - after `//` (`docker://`, `https://`) or a `docker:` prefix, whatever precedes the last such `@` is user information;
 * - in a bare name, when that part has no `/` and contains `:` (`user:pass@host/repo`) or a `/` follows the `@`
 *   (`user@host/repo`);
 * - a `@` followed by a digest (`@sha256:<hex>`) or by a source index at the end (`docker-archive:x.tar:@1`) separates
 *   nothing, nor one followed by `/` (`overlay@/var/lib/containers/storage`), and paths (`/…`, `./…`, `~/…`) are left alone; e-mail addresses (`<me@example.com>`) stay as they are.
 */

/** The placeholder written instead of the user information. */
export const REDACTED = '***';

const WORD = /[^\s"'`<>(){},;]+/g;
const DIGEST_AFTER = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/;
const INDEX_AFTER = /^\d+$/;
/** Prefixes after which a name's user information would start (the rest of a `docker://` reference or a URL). */
const AUTHORITY_PREFIX = /^(?:[A-Za-z][A-Za-z0-9+.-]*:)?\/\/|^docker:/;

/** Whether `text` contains something {@link redactCredentials} would rewrite. */
export function hasCredentials(text: string): boolean {
  return redactCredentials(text) !== text;
}

/** The secrets this process uses (see {@link registerSecret}), longest first. */
let secrets: string[] = [];

/**
 * Registers a secret this process sends somewhere (a password, its `Basic` value, a bearer or identity token):
 * {@link redactCredentials} then replaces it wherever it appears, so that no message shows it, whoever echoed it (a
 * hostile registry or token server may put the `Authorization` it received into its error message). Values shorter
 * than 4 characters are not registered: replacing them would garble messages more than they could reveal.
 */
export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < 4 || secrets.includes(secret)) return;
  secrets = [...secrets, secret].sort((a, b) => b.length - a.length);
}

/**
 * `text` with every registered secret ({@link registerSecret}) and the user information of every image name or URL
 * in it replaced by {@link REDACTED}.
 */
export function redactCredentials(text: string): string {
  for (const s of secrets) if (text.includes(s)) text = text.split(s).join(REDACTED);
  if (!text.includes('@')) return text;
  return text.replace(WORD, redactWord);
}

function redactWord(word: string): string {
  if (!word.includes('@')) return word;
  const prefix = AUTHORITY_PREFIX.exec(word)?.[0] ?? '';
  const rest = word.slice(prefix.length);
  if (!prefix && /^(?:\/|\.{1,2}\/|~)/.test(rest)) return word;
  // the last `@` that separates user information (one of a digest or a source index does not)
  for (let at = rest.lastIndexOf('@'); at > 0; at = rest.lastIndexOf('@', at - 1)) {
    const after = rest.slice(at + 1);
    if (DIGEST_AFTER.test(after) || INDEX_AFTER.test(after)) continue;
    if (after === '' || after.startsWith('/')) return word; // no host follows (`driver@/graph/root`)
    const userinfo = rest.slice(0, at);
    if (userinfo.startsWith('[') && !userinfo.includes(']')) return word; // inside an IPv6 literal (`[fe80::1%@zone]`)
    if (prefix || (!userinfo.includes('/') && (userinfo.includes(':') || after.includes('/')))) return `${prefix}${REDACTED}${rest.slice(at)}`;
    return word;
  }
  return word;
}
