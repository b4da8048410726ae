/**
 * Which source blob a `putBlob` stream carries, when the bytes were changed on the way (a decompressed layer is
 * put with an empty digest). Destinations that care about the order of layers (docker-archive writes them into
 * its archive while they arrive) can match it with the digests `planLayers` or `tryReusingBlob` saw first, in
 * manifest order. A tag the copy engine puts on the streams it hands over, like `markVerifiedUpstream`
 * (verify-stream.ts): shared by the engine and the transports, so it lives with the utilities both use.
 */

/** Property carrying the source digest of a stream (see {@link markBlobOrigin}). */
const BLOB_ORIGIN = Symbol.for('ferry.blobOrigin');

/** Records on `stream` that its bytes come from the source blob `digest` (possibly (de)compressed since). */
export function markBlobOrigin(stream: NodeJS.ReadableStream, digest: string): void {
  (stream as unknown as Record<symbol, unknown>)[BLOB_ORIGIN] = digest;
}

/** The source digest recorded by {@link markBlobOrigin}, if any. */
export function blobOrigin(stream: NodeJS.ReadableStream): string | undefined {
  const v = (stream as unknown as Record<symbol, unknown>)[BLOB_ORIGIN];
  return typeof v === 'string' ? v : undefined;
}
