/**
 * Deleting images from a registry.
 *
 * - Default (like skopeo): resolve the reference to a manifest digest and `DELETE /v2/<repo>/manifests/<digest>` —
 *   which removes every tag pointing at that digest; callers are warned (with the other tags, when there are few
 *   enough to check).
 * - `tagOnly`: remove just one tag. First the OCI distribution tag delete (`DELETE …/manifests/<tag>`); registries
 *   that refuse it (distribution 2.x) get the placeholder dance instead: an empty OCI manifest (config `{}`) is pushed
 *   to the tag, moving it away from the image, and then deleted by its digest. The image and its other tags stay.
 *   Before the tag is touched, a probe (placeholder PUT by digest, then DELETE) checks that deletes are enabled, so
 *   a registry with deletes disabled fails without moving the tag.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { ErrorCode, FerryError, RegistryError } from '../../errors.js';
import { MediaType } from '../../manifest/media-types.js';
import { RegistryClient } from '../../registry/client.js';
import { discard, header } from '../../registry/http.js';
import { blobSize, uploadBlob } from '../../registry/upload.js';
import type { OpOptions, SystemContext } from '../../types/context.js';
import type { DeleteOptions } from '../../types/reference.js';
import { digestOf } from '../../util/digest.js';
import type { DockerReference } from './reference.js';

/** Most tags HEADed to find which other tags share the deleted digest. */
const MAX_TAGS_CHECKED = 50;

/** Options of {@link deleteDockerImage}. */
export type DockerDeleteOptions = DeleteOptions;

/** What a delete did. */
export interface DockerDeleteResult {
  /** The manifest digest the reference resolved to. */
  digest: string;
  /** How: the manifest deleted by digest, the tag deleted by the registry, or replaced by a placeholder that was then deleted. */
  method: 'manifest' | 'tag' | 'placeholder';
  /** For manifest deletes: other tags found pointing at the digest (undefined when not checked). */
  otherTags?: string[];
}

/** The empty JSON object used as the placeholder's config. */
const EMPTY_CONFIG = Buffer.from('{}');
/** Annotation marking ferry's placeholder manifests. */
export const PLACEHOLDER_ANNOTATION = 'io.github.ferry.tag-delete-placeholder';

/** A unique, empty OCI image manifest (config `{}`, no layers). */
export function placeholderManifest(): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: digestOf(EMPTY_CONFIG), size: EMPTY_CONFIG.length },
      layers: [],
      annotations: { [PLACEHOLDER_ANNOTATION]: `${new Date().toISOString()} ${randomBytes(8).toString('hex')}` },
    }),
  );
}

function unsupportedDeletes(what: string, cause: unknown): FerryError {
  return new FerryError(ErrorCode.Unsupported, `${what}: the registry does not allow deleting images (deletes are disabled on it)`, { cause });
}

/** Whether an answer means "this kind of delete is not supported here". */
function isUnsupported(e: RegistryError): boolean {
  return e.status === 405 || e.entries.some((x) => x.code.toUpperCase() === 'UNSUPPORTED');
}

async function deleteManifest(client: RegistryClient, tagOrDigest: string, what: string, opts: OpOptions): Promise<void> {
  const res = await client.request({ method: 'DELETE', path: `manifests/${tagOrDigest}`, signal: opts.signal, what });
  if (res.status === 202 || res.status === 200 || res.status === 204) {
    await discard(res);
    return;
  }
  throw await RegistryClient.errorFrom(what, res);
}

async function putManifest(client: RegistryClient, tagOrDigest: string, bytes: Buffer, what: string, opts: OpOptions): Promise<void> {
  const res = await client.request({
    method: 'PUT',
    path: `manifests/${tagOrDigest}`,
    headers: { 'content-type': MediaType.OciManifest, 'content-length': String(bytes.length) },
    body: bytes,
    signal: opts.signal,
    what,
  });
  if (res.status !== 201 && res.status !== 200) throw await RegistryClient.errorFrom(what, res);
  await discard(res);
  const got = header(res, 'docker-content-digest')?.trim();
  if (got && got !== digestOf(bytes)) throw new FerryError(ErrorCode.Registry, `${what}: the registry stored the placeholder under ${got}`);
}

/** Other tags of the repository pointing at `digest` (undefined if there are too many tags to check, or on errors). */
async function tagsPointingAt(client: RegistryClient, digest: string, except: string | undefined, opts: OpOptions): Promise<string[] | undefined> {
  try {
    const tags = (await client.listTags(opts)).filter((t) => t !== except);
    if (tags.length > MAX_TAGS_CHECKED) return undefined;
    const found: string[] = [];
    for (const t of tags) {
      const h = await client.headManifest(t, opts).catch(() => undefined);
      if (h?.digest === digest) found.push(t);
    }
    return found;
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return undefined;
  }
}

/**
 * Deletes `ref` from its registry (see the module comment for what is removed).
 * @throws E_NOT_FOUND (no such image or tag), E_UNSUPPORTED (deletes disabled), E_UNAUTHORIZED / E_DENIED,
 *   E_USAGE (`tagOnly` without a tag, or with a digest).
 */
export async function deleteDockerImage(ref: DockerReference, ctx: SystemContext, opts: DockerDeleteOptions = {}): Promise<DockerDeleteResult> {
  const { domain, path, tag, digest } = ref.name;
  const name = `docker://${domain}/${path}`;
  if (opts.tagOnly && (tag === undefined || digest !== undefined)) {
    throw new FerryError(ErrorCode.Usage, `${ref.toString()}: --tag-only needs a reference with a tag and no digest`);
  }
  const client = RegistryClient.open({ registry: domain, repository: path, ctx, actions: opts.tagOnly ? ['pull', 'push', 'delete'] : ['pull', 'delete'] });
  try {
    const tagOrDigest = digest ?? tag ?? 'latest';
    const head = await client.headManifest(tagOrDigest, opts);
    if (!head) throw new FerryError(ErrorCode.NotFound, `${ref.toString()}: manifest unknown`);
    if (opts.tagOnly) return { digest: head.digest, method: await deleteTagOnly(client, tag!, `${name}:${tag}`, opts) };

    const other = await tagsPointingAt(client, head.digest, digest ? undefined : tag, opts);
    const listed = other === undefined ? '' : other.length ? `; other tags removed with it: ${other.join(', ')}` : '; no other tag points at it';
    opts.onWarning?.(`deleting manifest ${head.digest} removes every tag of ${name} that points at it${listed}`);
    const what = `${name}@${head.digest}`;
    try {
      await deleteManifest(client, head.digest, what, opts);
    } catch (e) {
      if (e instanceof RegistryError && isUnsupported(e)) throw unsupportedDeletes(what, e);
      throw e;
    }
    return { digest: head.digest, method: 'manifest', otherTags: other };
  } finally {
    await client.close();
  }
}

async function deleteTagOnly(client: RegistryClient, tag: string, what: string, opts: OpOptions): Promise<'tag' | 'placeholder'> {
  try {
    await deleteManifest(client, tag, what, opts);
    return 'tag';
  } catch (e) {
    if (!(e instanceof RegistryError) || (e.status !== 400 && !isUnsupported(e))) throw e;
  }
  // The registry refuses tag deletes: move the tag to a placeholder and delete that.
  const config = digestOf(EMPTY_CONFIG);
  if ((await blobSize(client, config, opts)) === undefined) {
    await uploadBlob(client, Readable.from([EMPTY_CONFIG]), { digest: config, size: EMPTY_CONFIG.length }, opts);
  }
  const probe = placeholderManifest();
  const probeDigest = digestOf(probe);
  await putManifest(client, probeDigest, probe, `${what}: pushing a placeholder manifest`, opts);
  try {
    await deleteManifest(client, probeDigest, `${what}: deleting a placeholder manifest`, opts);
  } catch (e) {
    if (e instanceof RegistryError && isUnsupported(e)) throw unsupportedDeletes(what, e);
    throw e;
  }
  const placeholder = placeholderManifest();
  const placeholderDigest = digestOf(placeholder);
  await putManifest(client, tag, placeholder, `${what}: moving the tag to a placeholder manifest`, opts);
  await deleteManifest(client, placeholderDigest, `${what}: deleting the placeholder manifest`, opts);
  return 'placeholder';
}
