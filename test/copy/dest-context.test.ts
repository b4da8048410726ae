/**
 * The destination context of a copy is one object per caller's context and settings, so that what is read once per
 * context (registries.conf, certificates, registries.d) is read once per sync, not once per image.
 */
import { expect } from 'chai';
import { destinationContext } from '../../src/copy/dest-context.js';
import type { DestinationContext } from '../../src/copy/options.js';

describe('copy/dest-context', () => {
  it("is the caller's context itself when the copy sets nothing on it", () => {
    const destCtx: DestinationContext = { certDir: '/nonexistent/certs' };
    expect(destinationContext({ destCtx })).to.equal(destCtx);
    expect(destinationContext({ destCtx })).to.equal(destinationContext({ destCtx }));
  });

  it('is one derived context per caller context and settings, the caller context left alone', () => {
    const destCtx: DestinationContext = { certDir: '/nonexistent/certs' };
    const a = destinationContext({ destCtx, ociAcceptUncompressedLayers: true });
    expect(a).to.not.equal(destCtx);
    expect(a).to.include({ certDir: '/nonexistent/certs', ociAcceptUncompressedLayers: true });
    expect(destCtx).to.not.have.property('ociAcceptUncompressedLayers');
    expect(destinationContext({ destCtx, ociAcceptUncompressedLayers: true })).to.equal(a);
    const tagged = destinationContext({ destCtx, additionalTags: ['x:1'] });
    expect(tagged).to.not.equal(a);
    expect(tagged.additionalTags).to.deep.equal(['x:1']);
    expect(destinationContext({ destCtx, additionalTags: ['x:1'] })).to.equal(tagged);
    expect(destinationContext({ destCtx: { ...destCtx }, ociAcceptUncompressedLayers: true })).to.not.equal(a);
  });
});
