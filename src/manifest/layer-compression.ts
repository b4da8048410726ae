/**
 * Layer media types and the compression they declare, for OCI and Docker schema2 manifests: which type a layer
 * gets for a compression, and the type of the same layer after (de)compression.
 */
import type { Compression } from '../compression/detect.js';
import { FerryError, ErrorCode } from '../errors.js';
import { MediaType } from './media-types.js';

/** The manifest formats with layer media types. */
export type Format = 'oci' | 'docker';
type LayerTable = Partial<Record<Compression, string>>;

/** Layer media types by manifest format and compression. Docker schema2 has no zstd layers. */
const LAYER_TYPES: Record<Format, LayerTable> = {
  oci: { none: MediaType.OciLayer, gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd },
  docker: { none: MediaType.DockerLayer, gzip: MediaType.DockerLayerGzip },
};

/** Non-distributable (OCI) / foreign (Docker) layer types by format and compression. */
const FOREIGN_TYPES: Record<Format, LayerTable> = {
  oci: {
    none: MediaType.OciLayerNondistributable,
    gzip: MediaType.OciLayerNondistributableGzip,
    zstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  },
  docker: { none: 'application/vnd.docker.image.rootfs.foreign.diff.tar', gzip: MediaType.DockerForeignLayerGzip },
};

const TABLES: ReadonlyArray<[Format, LayerTable]> = [
  ['oci', LAYER_TYPES.oci],
  ['docker', LAYER_TYPES.docker],
  ['oci', FOREIGN_TYPES.oci],
  ['docker', FOREIGN_TYPES.docker],
];

function formatName(f: Format): string {
  return f === 'oci' ? 'OCI' : 'Docker schema2';
}

/**
 * The layer media type for a manifest format and a compression.
 * @throws FerryError(E_UNSUPPORTED) for zstd in Docker schema2, or bzip2/xz anywhere.
 */
export function layerMediaTypeFor(format: Format, compression: Compression): string {
  const t = LAYER_TYPES[format][compression];
  if (!t) throw new FerryError(ErrorCode.Unsupported, `${formatName(format)} manifests have no layer type for ${compression} compression`);
  return t;
}

/** Finds the table (format and distributable or not) holding `mediaType`, and its compression. */
function lookup(mediaType: string): { format: Format; table: LayerTable; compression: Compression } | undefined {
  for (const [format, table] of TABLES) {
    for (const [c, t] of Object.entries(table)) if (t === mediaType) return { format, table, compression: c as Compression };
  }
  return undefined;
}

/**
 * The compression a layer media type declares, or `undefined` if it is not a known layer type
 * (configs, artifacts: detect from the bytes instead).
 */
export function compressionOfMediaType(mediaType: string): Compression | undefined {
  return lookup(mediaType)?.compression;
}

/**
 * The media type of the same layer after (de)compression to `compression`, in the same manifest
 * format and the same kind (regular or non-distributable/foreign) as `mediaType`.
 * @throws FerryError(E_UNSUPPORTED) when there is no such type (zstd in Docker schema2) or
 *   `mediaType` is not a known layer type.
 */
export function layerMediaTypeWithCompression(mediaType: string, compression: Compression): string {
  const found = lookup(mediaType);
  if (!found) throw new FerryError(ErrorCode.Unsupported, `cannot change the compression of a blob of type ${mediaType}`);
  const t = found.table[compression];
  if (!t) throw new FerryError(ErrorCode.Unsupported, `${formatName(found.format)} has no type for ${mediaType} with ${compression} compression`);
  return t;
}
