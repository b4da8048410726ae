/**
 * Sigstore signatures stored as cosign attachments in the image's own repository: an OCI manifest tagged
 * `sha256-HEX.sig` whose layers are the signature payloads (`application/vnd.dev.cosign.simplesigning.v1+json`),
 * each with the signature in its `dev.cosignproject.cosign/signature` annotation; its config lists the layers'
 * digests as `rootfs.diff_ids`. Adding signatures keeps the ones already there (a layer with the same media type,
 * payload and annotations is not added twice), as containers/image does.
 *
 * The manifest written must read back in cosign and containers/image, so its JSON is written in their field order
 * (hand-written).
 */
import { Readable } from 'node:stream';
import { FerryError, ErrorCode } from '../../errors.js';
import { goMarshal, quoteGo } from '../../manifest/go-json.js';
import { MediaType } from '../../manifest/media-types.js';
import { RegistryClient } from '../../registry/client.js';
import { discard, header } from '../../registry/http.js';
import { uploadBlob } from '../../registry/upload.js';
import type { OpOptions } from '../../types/context.js';
import { digestOf, parseDigest } from '../../util/digest.js';
import { signatureFromBlob, signatureToBlob, type SigstoreSignature } from '../blob.js';
import { MAX_SIGNATURE_SIZE } from '../lookaside.js';
import { SIGSTORE_SIGNATURE_MIME_TYPE } from './payload.js';
/** The largest attachment config read (as every config: 4 MiB). */
const MAX_CONFIG_SIZE = 4 * 1024 * 1024;
/** The most signature layers read from one attachment manifest. */
const MAX_ATTACHMENT_LAYERS = 128;

/** The tag of the attachments of `manifestDigest`: `sha256-HEX.sig`. */
export function sigstoreAttachmentTag(manifestDigest: string): string {
  const { algorithm, hex } = parseDigest(manifestDigest);
  return `${algorithm}-${hex}.sig`;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface AttachmentManifest {
  config: Descriptor;
  layers: Descriptor[];
}

function invalid(what: string, reason: string): FerryError {
  return new FerryError(ErrorCode.Signature, `${what}: invalid sigstore attachment manifest: ${reason}`);
}

function parseDescriptor(v: unknown, what: string, where: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (typeof d !== 'object' || d === null || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number') {
    throw invalid(what, `${where} is not a descriptor`);
  }
  parseDigest(d.digest);
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw invalid(what, `${where} has an invalid size`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.annotations !== undefined && d.annotations !== null) {
    if (typeof d.annotations !== 'object' || Array.isArray(d.annotations)) throw invalid(what, `${where}.annotations is not an object`);
    const a: Record<string, string> = {};
    for (const [k, val] of Object.entries(d.annotations)) {
      if (typeof val !== 'string') throw invalid(what, `${where}.annotations.${k} is not a string`);
      a[k] = val;
    }
    out.annotations = a;
  }
  return out;
}

function parseAttachmentManifest(bytes: Buffer, mediaType: string, what: string): AttachmentManifest {
  if (mediaType !== MediaType.OciManifest) throw invalid(what, `unexpected media type ${mediaType}`);
  let doc: { config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(bytes.toString('utf8')) as typeof doc;
  } catch (e) {
    throw invalid(what, (e as Error).message);
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.layers)) throw invalid(what, 'no layers');
  if (doc.layers.length > MAX_ATTACHMENT_LAYERS) throw invalid(what, `more than ${MAX_ATTACHMENT_LAYERS} layers`);
  return { config: parseDescriptor(doc.config, what, 'config'), layers: doc.layers.map((l, i) => parseDescriptor(l, what, `layers[${i}]`)) };
}

/** Reads a small blob whole, bounded and verified against its descriptor. */
async function readSmallBlob(client: RegistryClient, d: Descriptor, max: number, what: string, opts: OpOptions): Promise<Buffer> {
  if (d.size > max) throw new FerryError(ErrorCode.Signature, `${what}: blob ${d.digest} is larger than ${max} bytes`);
  const { stream } = await client.getBlob(d.digest, opts);
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > d.size || n > max) throw new FerryError(ErrorCode.SizeMismatch, `${what}: blob ${d.digest} is longer than its ${d.size} bytes`);
      chunks.push(c);
    }
  } finally {
    stream.destroy();
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== d.size) throw new FerryError(ErrorCode.SizeMismatch, `${what}: blob ${d.digest} has ${bytes.length} bytes, expected ${d.size}`);
  const got = digestOf(bytes, parseDigest(d.digest).algorithm);
  if (got !== d.digest) throw new FerryError(ErrorCode.DigestMismatch, `${what}: blob ${d.digest} has digest ${got}`);
  return bytes;
}

/** The attachment manifest of `manifestDigest`, or undefined when there is none. */
async function getAttachmentManifest(client: RegistryClient, manifestDigest: string, opts: OpOptions): Promise<AttachmentManifest | undefined> {
  const tag = sigstoreAttachmentTag(manifestDigest);
  const what = `docker://${client.registry}/${client.repository}:${tag}`;
  let m;
  try {
    m = await client.getManifest(tag, opts);
  } catch (e) {
    if (e instanceof FerryError && e.code === ErrorCode.NotFound) return undefined;
    throw e;
  }
  return parseAttachmentManifest(m.bytes, m.mediaType, what);
}

/**
 * The sigstore signatures attached to `manifestDigest` in the client's repository, in their storage form. Layers of
 * other media types are skipped (cosign stores other things there too).
 */
export async function readSigstoreAttachments(client: RegistryClient, manifestDigest: string, opts: OpOptions = {}): Promise<Buffer[]> {
  const m = await getAttachmentManifest(client, manifestDigest, opts);
  if (!m) return [];
  const what = `docker://${client.registry}/${client.repository}:${sigstoreAttachmentTag(manifestDigest)}`;
  const out: Buffer[] = [];
  for (const layer of m.layers) {
    if (layer.mediaType !== SIGSTORE_SIGNATURE_MIME_TYPE) continue;
    const payload = await readSmallBlob(client, layer, MAX_SIGNATURE_SIZE, what, opts);
    out.push(signatureToBlob({ kind: 'sigstore', untrustedMIMEType: layer.mediaType, untrustedPayload: payload, untrustedAnnotations: layer.annotations ?? {} }));
  }
  return out;
}

function sameAnnotations(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ka = Object.keys(a ?? {});
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && b[k] === a![k]);
}

function layerMatches(layer: Descriptor, sig: SigstoreSignature): boolean {
  return (
    layer.mediaType === sig.untrustedMIMEType &&
    layer.size === sig.untrustedPayload.length &&
    layer.digest === digestOf(sig.untrustedPayload, parseDigest(layer.digest).algorithm) &&
    sameAnnotations(layer.annotations, sig.untrustedAnnotations)
  );
}

/** An OCI descriptor as Go's image-spec marshals it: mediaType, digest, size, annotations (a map: sorted keys). */
function descriptorJson(d: Descriptor): string {
  const annotations = d.annotations && Object.keys(d.annotations).length > 0 ? new Map(Object.entries(d.annotations)) : undefined;
  return goMarshal({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations });
}

async function putBlobBytes(client: RegistryClient, bytes: Buffer, opts: OpOptions): Promise<string> {
  const digest = digestOf(bytes, 'sha256');
  await uploadBlob(client, Readable.from([bytes]), { digest, size: bytes.length }, { signal: opts.signal });
  return digest;
}

/**
 * Adds `signatures` (storage form, all sigstore) to the attachments of `manifestDigest` in the client's repository
 * (a client opened for pushing): uploads the new payloads and a new config, then PUTs the manifest by its tag.
 * @throws FerryError(E_UNSUPPORTED) for a signature that is not a sigstore one; registry errors as they come.
 */
export async function writeSigstoreAttachments(client: RegistryClient, manifestDigest: string, signatures: Buffer[], opts: OpOptions = {}): Promise<void> {
  const tag = sigstoreAttachmentTag(manifestDigest);
  const what = `docker://${client.registry}/${client.repository}:${tag}`;
  const sigs = signatures.map((b) => {
    const s = signatureFromBlob(b);
    if (s.kind !== 'sigstore') throw new FerryError(ErrorCode.Unsupported, `${what}: only sigstore signatures can be stored as attachments`);
    return s;
  });
  const existing = await getAttachmentManifest(client, manifestDigest, opts);
  const layers = existing ? [...existing.layers] : [];
  let config: Record<string, unknown> = { architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [] } };
  if (existing) {
    const bytes = await readSmallBlob(client, existing.config, MAX_CONFIG_SIZE, what, opts);
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      config = parsed as Record<string, unknown>;
    } catch (e) {
      throw invalid(what, `config: ${(e as Error).message}`);
    }
  }
  const rootfs = (typeof config['rootfs'] === 'object' && config['rootfs'] !== null ? config['rootfs'] : { type: 'layers' }) as Record<string, unknown>;
  const diffIds = Array.isArray(rootfs['diff_ids']) ? [...(rootfs['diff_ids'] as unknown[])] : [];
  let added = 0;
  for (const sig of sigs) {
    if (layers.some((l) => layerMatches(l, sig))) continue;
    const digest = await putBlobBytes(client, sig.untrustedPayload, opts);
    const d: Descriptor = { mediaType: sig.untrustedMIMEType, digest, size: sig.untrustedPayload.length };
    if (Object.keys(sig.untrustedAnnotations).length > 0) d.annotations = { ...sig.untrustedAnnotations };
    layers.push(d);
    diffIds.push(digest);
    added++;
  }
  if (existing && added === 0) return;
  config = { ...config, rootfs: { ...rootfs, diff_ids: diffIds } };
  const configBytes = Buffer.from(goMarshal(config));
  const configDigest = await putBlobBytes(client, configBytes, opts);
  const manifest = Buffer.from(
    `{"schemaVersion":2,"mediaType":${quoteGo(MediaType.OciManifest)},"config":${descriptorJson({ mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length })},"layers":[${layers.map(descriptorJson).join(',')}]}`,
  );
  const res = await client.request({
    method: 'PUT',
    path: `manifests/${tag}`,
    headers: { 'content-type': MediaType.OciManifest, 'content-length': String(manifest.length) },
    body: manifest,
    signal: opts.signal,
    what: `${what}: writing sigstore attachments`,
  });
  if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await RegistryClient.errorFrom(`${what}: writing sigstore attachments`, res);
  await discard(res);
  const got = header(res, 'docker-content-digest')?.trim();
  const want = digestOf(manifest, 'sha256');
  if (got && got.startsWith('sha256:') && got !== want) throw new FerryError(ErrorCode.DigestMismatch, `${what}: the registry stored a different manifest (${got}, expected ${want})`);
}
