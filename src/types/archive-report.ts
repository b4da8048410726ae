/** What checking an archive of images found (`ferry verify-archive`): see src/transports/oci-archive/verify.ts. */

/** One thing wrong with an archive: which image, which blob, what. */
export interface ArchiveProblem {
  /** The image's name in the archive (ref name or RepoTags), or `@N` for an unnamed one; `''` for the archive itself. */
  image: string;
  /** The blob's digest (or, in a docker archive, its file name); `''` when the problem is not one blob's. */
  blob: string;
  /** What is wrong, one line. */
  problem: string;
}

/** One image of an archive. */
export interface ArchiveImageReport {
  /** Its name in the archive: the ref name, the RepoTags joined by `, `, or `@N`. */
  name: string;
  /** The manifest (or index) digest; in a docker archive, the config digest (the image ID). */
  digest: string;
  /** The manifest's media type (`application/vnd.docker.distribution.manifest.v2+json` for a docker archive image). */
  mediaType: string;
  /** `os/arch[/variant]` of each image of a multi-platform index; empty otherwise. */
  platforms: string[];
  /** The number of distinct blobs it uses, manifests included. */
  blobs: number;
  /** Their total size in bytes (blobs the archive does not carry are not counted). */
  size: number;
  /** Whether every blob it uses was found and checked. */
  ok: boolean;
}

/** The result of checking an archive. */
export interface ArchiveReport {
  /** The archive, as named. */
  archive: string;
  /** `oci` (an OCI layout tar) or `docker-archive` (a `docker save` tar). */
  format: 'oci' | 'docker-archive';
  images: ArchiveImageReport[];
  /** Distinct blobs the archive carries that the images use. */
  blobs: number;
  /** Their total size in bytes. */
  size: number;
  /** Blobs the archive carries that no image uses. */
  unreferenced: string[];
  /** Blobs the images use that the archive does not carry and expects at the destination (an incremental archive). */
  expects: string[];
  /** Archives an incremental archive builds on (their digests and names, as recorded when it was written). */
  buildsOn: { digest: string; name: string }[];
  /** Everything found wrong; empty when the archive is sound. */
  problems: ArchiveProblem[];
}
