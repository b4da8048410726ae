/**
 * CA certificates named by the environment for ferry's own TLS connections.
 *
 * Node reads `NODE_EXTRA_CA_CERTS` eagerly when the process starts: with a system bundle there (as many CI and
 * corporate machines set it), that costs ~60 ms of every command, TLS or not. bin/ferry, run as a program, moves
 * the variable aside before starting Node (to `FERRY_EXTRA_CA_CERTS`), and ferry adds those certificates itself,
 * only when it opens a TLS connection to a registry — the same trust, paid for only when used. Started as
 * `node bin/ferry`, Node has already loaded them and `FERRY_EXTRA_CA_CERTS` is unset.
 */
import { readBoundedFile } from '../util/bounded-read.js';

/** The variable bin/ferry moves `NODE_EXTRA_CA_CERTS` to. */
export const FERRY_EXTRA_CA_CERTS = 'FERRY_EXTRA_CA_CERTS';

let loaded: Promise<string[]> | undefined;

/**
 * The PEM file named by `FERRY_EXTRA_CA_CERTS` (one entry: Node accepts several certificates in one string),
 * read once; none when unset or unreadable (Node, too, only warns and goes on when that file cannot be loaded).
 */
export function environmentCAs(): Promise<string[]> {
  loaded ??= (async () => {
    const file = process.env[FERRY_EXTRA_CA_CERTS];
    if (!file) return [];
    const pem = await readBoundedFile(file).then((b) => b.toString('utf8'), () => '');
    return pem.includes('-----BEGIN CERTIFICATE-----') ? [pem] : [];
  })();
  return loaded;
}
