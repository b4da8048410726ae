import { expect } from 'chai';
import { encodePayload, parsePayload, SIGNATURE_TYPE } from '../../src/signature/payload.js';
import { assertNoDuplicateKeys } from '../../src/signature/strict-json.js';
import { FerryError } from '../../src/errors.js';

const DIGEST = 'sha256:659f7e41827e76690689ec414bf5796252f555ba52b34ecadabf1056cfe325f9';

/** A payload with `critical`/`optional` replaced, for the strict-parsing cases. */
function doc(critical: unknown, optional: unknown = {}): Buffer {
  return Buffer.from(JSON.stringify({ critical, optional }));
}
const critical = () => ({ identity: { 'docker-reference': 'example.com/a:b' }, image: { 'docker-manifest-digest': DIGEST }, type: SIGNATURE_TYPE });

function refusal(bytes: Buffer): string {
  try {
    parsePayload(bytes);
  } catch (e) {
    expect(e).to.be.instanceOf(FerryError);
    expect((e as FerryError).code).to.equal('E_SIGNATURE');
    return (e as Error).message;
  }
  throw new Error('parsePayload accepted it');
}

describe('signature/payload', () => {
  it('writes the bytes containers/image writes (keys sorted, no spaces)', () => {
    // as skopeo 1.9.3 standalone-sign wrote it (creator and timestamp changed)
    const expected =
      '{"critical":{"identity":{"docker-reference":"example.com/a:b"},"image":{"docker-manifest-digest":"' +
      DIGEST +
      '"},"type":"atomic container signature"},"optional":{"creator":"ferry 0.1.0","timestamp":1795444240}}';
    const bytes = encodePayload({ dockerManifestDigest: DIGEST, dockerReference: 'example.com/a:b', creator: 'ferry 0.1.0', timestamp: 1795444240 });
    expect(bytes.toString('utf8')).to.equal(expected);
  });

  it("escapes <, >, &, U+2028 and U+2029 as Go's encoder does", () => {
    const bytes = encodePayload({ dockerManifestDigest: DIGEST, dockerReference: 'x', creator: 'a<b>&c\u2028\u2029é' });
    expect(bytes.toString('utf8')).to.contain('"creator":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029é"');
    expect(parsePayload(bytes).creator).to.equal('a<b>&c\u2028\u2029é');
  });

  it('omits absent optional fields, and refuses an empty reference or digest', () => {
    expect(encodePayload({ dockerManifestDigest: DIGEST, dockerReference: 'x' }).toString()).to.match(/"optional":\{\}\}$/);
    expect(() => encodePayload({ dockerManifestDigest: DIGEST, dockerReference: '' })).to.throw(FerryError);
    expect(() => encodePayload({ dockerManifestDigest: '', dockerReference: 'x' })).to.throw(FerryError);
  });

  it('parses what it writes', () => {
    const p = { dockerManifestDigest: DIGEST, dockerReference: 'example.com/a:b', creator: 'ferry 0.1.0', timestamp: 1700000000 };
    expect(parsePayload(encodePayload(p))).to.deep.equal(p);
  });

  it('accepts unknown optional fields, but refuses unknown or missing critical fields', () => {
    expect(parsePayload(doc(critical(), { whatever: [1, { a: 2 }] })).dockerReference).to.equal('example.com/a:b');
    expect(refusal(doc({ ...critical(), extra: 1 }))).to.contain('unknown field "extra" in critical');
    expect(refusal(doc({ ...critical(), image: { 'docker-manifest-digest': DIGEST, size: 3 } }))).to.contain('unknown field "size" in critical.image');
    expect(refusal(doc({ ...critical(), identity: { 'docker-reference': 'x', tag: 'y' } }))).to.contain('unknown field "tag" in critical.identity');
    const { type: _t, ...noType } = critical();
    expect(refusal(doc(noType))).to.contain('missing field "type" in critical');
    expect(refusal(Buffer.from(JSON.stringify({ critical: critical() })))).to.contain('missing field "optional"');
    expect(refusal(Buffer.from(JSON.stringify({ critical: critical(), optional: {}, more: 1 })))).to.contain('unknown field "more"');
  });

  it('refuses a wrong type, a bad digest, wrongly typed fields, fractional timestamps', () => {
    expect(refusal(doc({ ...critical(), type: 'cosign container image signature' }))).to.contain('unrecognized signature type');
    expect(refusal(doc({ ...critical(), image: { 'docker-manifest-digest': 'sha256:abc' } }))).to.contain('invalid docker-manifest-digest');
    expect(refusal(doc({ ...critical(), identity: { 'docker-reference': 5 } }))).to.contain('critical.identity.docker-reference is not a string');
    expect(refusal(doc({ ...critical(), image: [] }))).to.contain('critical.image is not a JSON object');
    expect(refusal(doc(critical(), { timestamp: 1.5 }))).to.contain('optional.timestamp is not an integer');
    expect(refusal(doc(critical(), { creator: 7 }))).to.contain('optional.creator is not a string');
    expect(refusal(doc(critical(), null))).to.contain('optional is not a JSON object');
  });

  it('refuses garbage, non-UTF-8 bytes and duplicate keys', () => {
    expect(refusal(Buffer.from('not json'))).to.contain('not JSON');
    expect(refusal(Buffer.from([0x7b, 0xff, 0x7d]))).to.contain('not UTF-8');
    expect(refusal(Buffer.from('[]'))).to.contain('the payload is not a JSON object');
    const c = JSON.stringify(critical());
    expect(refusal(Buffer.from(`{"critical":${c},"optional":{},"critical":${c}}`))).to.contain('duplicate field "critical"');
    const dup = c.replace('"type":', '"type":"x","type":');
    expect(refusal(Buffer.from(`{"critical":${dup},"optional":{}}`))).to.contain('duplicate field "type"');
  });

  describe('assertNoDuplicateKeys', () => {
    const dupOf = (json: string) => {
      JSON.parse(json);
      try {
        assertNoDuplicateKeys(json, (k) => new Error(k));
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    };
    it('finds duplicates at any depth, also when escaped differently', () => {
      expect(dupOf('{"a":1,"b":{"c":[{"d":1,"d":2}]}}')).to.equal('d');
      expect(dupOf('{"a":1,"\\u0061":2}')).to.equal('a');
    });
    it('accepts equal keys in different objects and strings that look like keys', () => {
      expect(dupOf('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"\\"a\\":1,{","d":["a","a"]}')).to.equal(undefined);
    });
  });
});
