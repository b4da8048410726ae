/**
 * CA certificates named by `NODE_EXTRA_CA_CERTS`, for the TLS connections to which ferry gives its own CA list.
 *
 * Node adds the certificates of that file to its default CAs, which a connection uses when it is given no `ca`. A
 * registry with a certs.d folder of CAs gets an explicit list instead (Node's bundled roots and the folder's CAs,
 * see certs.ts), and Node then consults that list alone: ferry appends the file's certificates to it, so a registry
 * trusted through the variable stays trusted when a certs.d folder also applies to it.
 */
import { readBoundedFile } from '../util/bounded-read.js';

/** The variable, as Node reads it. */
export const NODE_EXTRA_CA_CERTS = 'NODE_EXTRA_CA_CERTS';

let loaded: Promise<string[]> | undefined;

/**
 * The PEM file named by `NODE_EXTRA_CA_CERTS` (one entry: Node accepts several certificates in one string),
 * read once; none when unset or unreadable (Node, too, only warns and goes on when that file cannot be loaded).
 */
export function environmentCAs(): Promise<string[]> {
  loaded ??= (async () => {
    const file = process.env[NODE_EXTRA_CA_CERTS];
    if (!file) return [];
    const pem = await readBoundedFile(file, { regularFile: true }).then((b) => b.toString('utf8'), () => '');
    return pem.includes('-----BEGIN CERTIFICATE-----') ? [pem] : [];
  })();
  return loaded;
}
