import { expect } from 'chai';
import { goMarshal, goMarshalIndent, quoteGo } from '../../src/manifest/go-json.js';
import { GoTime } from '../../src/manifest/go-time.js';
import { goJsonIndent } from '../../src/cli/output/go-json.js';

describe('manifest/go-json', () => {
  it('escapes like Go encoding/json (HTML characters, control characters, U+2028)', () => {
    expect(quoteGo('a<b>&c"\\\n\t\r\x01\b\u2028é')).to.equal('"a\\u003cb\\u003e\\u0026c\\"\\\\\\n\\t\\r\\u0001\\u0008\\u2028é"');
    expect(quoteGo('<&>', false)).to.equal('"<&>"');
    expect(quoteGo('x\ud800y')).to.equal('"x\\ufffdy"');
  });

  it('keeps struct order, sorts maps by bytes (also integer-like keys), omits undefined', () => {
    const labels = new Map([
      ['b', '1'],
      ['10', 'x'],
      ['2', 'y'],
      ['B', 'z'],
    ]);
    expect(goMarshal({ z: 1, a: undefined, m: labels, e: [], o: {}, n: null, t: true })).to.equal(
      '{"z":1,"m":{"10":"x","2":"y","B":"z","b":"1"},"e":[],"o":{},"n":null,"t":true}',
    );
  });

  it('indents like json.MarshalIndent(v, "", "    ")', () => {
    const v = { A: [1, 2], B: {}, C: [], D: new Map([['k', { x: '<' }]]) };
    expect(goJsonIndent(v)).to.equal(
      '{\n    "A": [\n        1,\n        2\n    ],\n    "B": {},\n    "C": [],\n    "D": {\n        "k": {\n            "x": "\\u003c"\n        }\n    }\n}',
    );
    expect(goMarshalIndent([])).to.equal('[]');
  });

  it('marshals GoTime as RFC3339Nano and prints it like time.Time.String()', () => {
    const t = GoTime.parse('2024-01-02T03:04:05.100+02:00');
    expect(goMarshal({ t })).to.equal('{"t":"2024-01-02T03:04:05.1+02:00"}');
    expect(t.toString()).to.equal('2024-01-02 03:04:05.1 +0200 +0200');
    expect(GoTime.parse('2024-01-02T03:04:05.123456789123Z').toJSON()).to.equal('2024-01-02T03:04:05.123456789Z');
    expect(GoTime.parse('2024-01-02T03:04:05+00:00').toString()).to.equal('2024-01-02 03:04:05 +0000 UTC');
    expect(GoTime.zero().toJSON()).to.equal('0001-01-01T00:00:00Z');
    expect(() => GoTime.parse('yesterday')).to.throw(/RFC 3339/);
  });
});
