import { expect } from 'chai';
import { ErrorCode, FerryError } from '../../src/errors.js';
import { compressionOfMediaType, layerMediaTypeFor, layerMediaTypeWithCompression } from '../../src/manifest/layer-compression.js';
import { MediaType } from '../../src/manifest/media-types.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as FerryError).code;
  }
  return undefined;
}

describe('manifest/layer-compression', () => {
  it('maps media types to and from compression', () => {
    expect(layerMediaTypeFor('oci', 'gzip')).to.equal(MediaType.OciLayerGzip);
    expect(layerMediaTypeFor('oci', 'zstd')).to.equal(MediaType.OciLayerZstd);
    expect(layerMediaTypeFor('oci', 'none')).to.equal(MediaType.OciLayer);
    expect(layerMediaTypeFor('docker', 'gzip')).to.equal(MediaType.DockerLayerGzip);
    expect(layerMediaTypeFor('docker', 'none')).to.equal(MediaType.DockerLayer);
    expect(codeOf(() => layerMediaTypeFor('docker', 'zstd'))).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => layerMediaTypeFor('oci', 'xz'))).to.equal(ErrorCode.Unsupported);
    expect(compressionOfMediaType(MediaType.OciLayerZstd)).to.equal('zstd');
    expect(compressionOfMediaType(MediaType.DockerLayer)).to.equal('none');
    expect(compressionOfMediaType(MediaType.DockerForeignLayerGzip)).to.equal('gzip');
    expect(compressionOfMediaType(MediaType.OciConfig)).to.equal(undefined);
    expect(layerMediaTypeWithCompression(MediaType.DockerLayerGzip, 'none')).to.equal(MediaType.DockerLayer);
    expect(layerMediaTypeWithCompression(MediaType.OciLayerNondistributableGzip, 'none')).to.equal(MediaType.OciLayerNondistributable);
    expect(layerMediaTypeWithCompression(MediaType.OciLayer, 'zstd')).to.equal(MediaType.OciLayerZstd);
    expect(codeOf(() => layerMediaTypeWithCompression(MediaType.DockerLayerGzip, 'zstd'))).to.equal(ErrorCode.Unsupported);
    expect(codeOf(() => layerMediaTypeWithCompression(MediaType.OciConfig, 'gzip'))).to.equal(ErrorCode.Unsupported);
  });
});
