/**
 * Test PKI made with `openssl`, once per test process: a CA, a server certificate for 127.0.0.1/localhost
 * and a token-signing certificate, all ECDSA P-256 and signed by the CA. Removed when the process exits.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOk } from './procs.js';

/** Paths (and PEM contents) of the test PKI. */
export interface TestPki {
  /** Directory holding all files below (private to this process). */
  dir: string;
  caCert: string;
  caKey: string;
  /** Server certificate with SAN IP:127.0.0.1 and DNS:localhost. */
  serverCert: string;
  serverKey: string;
  /** Certificate and key the token server signs JWTs with (its cert chains to the CA). */
  signingCert: string;
  signingKey: string;
  /** PEM texts. */
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  signingCertPem: string;
  signingKeyPem: string;
}

let pki: Promise<TestPki> | undefined;

/** Returns the process-wide test PKI, creating it on first use (~100 ms). */
export function getTestPki(): Promise<TestPki> {
  pki ??= createPki().catch((e) => {
    pki = undefined;
    throw e;
  });
  return pki;
}

async function createPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const p = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await runOk('openssl', [
    'req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '3650',
    '-subj', '/CN=ferry test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await writeFile(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  await writeFile(p('signing.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  const leaf = async (name: string, cn: string) => {
    await runOk('openssl', ['req', ...ec, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await runOk('openssl', [
      'x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-out', p(`${name}.crt`), '-days', '3650', '-sha256', '-extfile', p(`${name}.ext`),
    ]);
  };
  await Promise.all([leaf('server', '127.0.0.1'), leaf('signing', 'ferry test token signer')]);
  const [caPem, serverCertPem, serverKeyPem, signingCertPem, signingKeyPem] = await Promise.all(
    ['ca.crt', 'server.crt', 'server.key', 'signing.crt', 'signing.key'].map((f) => readFile(p(f), 'utf8')),
  );
  return {
    dir, caCert: p('ca.crt'), caKey: p('ca.key'), serverCert: p('server.crt'), serverKey: p('server.key'),
    signingCert: p('signing.crt'), signingKey: p('signing.key'),
    caPem: caPem!, serverCertPem: serverCertPem!, serverKeyPem: serverKeyPem!, signingCertPem: signingCertPem!, signingKeyPem: signingKeyPem!,
  };
}
