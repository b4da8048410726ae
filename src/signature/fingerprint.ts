import { FerryError, ErrorCode } from '../errors.js';

/**
 * Normalizes an OpenPGP key fingerprint as gpgme reports them: upper-case hex, no spaces. Accepts lower case,
 * spaces (as `gpg --fingerprint` prints them) and a `0x` prefix.
 * @throws FerryError(E_USAGE) unless it is a full v4 (40 hex digits) or v5/v6 (64 hex digits) fingerprint.
 */
export function normalizeFingerprint(s: string): string {
  const f = s.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
  if (!/^(?:[0-9A-F]{40}|[0-9A-F]{64})$/.test(f)) {
    throw new FerryError(ErrorCode.Usage, `invalid key fingerprint "${s}": expected a full fingerprint of 40 (or 64) hexadecimal digits`);
  }
  return f;
}

/**
 * Parses the KEY-FINGERPRINTS argument of standalone-verify: `any`, or one or more fingerprints separated by
 * commas (empty entries are ignored).
 * @throws FerryError(E_USAGE) for an empty list or an invalid fingerprint.
 */
export function parseFingerprintList(s: string): string[] | 'any' {
  if (s.trim() === 'any') return 'any';
  const list = s.split(',').map((x) => x.trim()).filter((x) => x !== '').map(normalizeFingerprint);
  if (list.length === 0) throw new FerryError(ErrorCode.Usage, 'no key fingerprint given');
  return [...new Set(list)];
}
