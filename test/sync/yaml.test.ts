import { expect } from 'chai';
import { parseYaml, type YamlNode } from '../../src/sync/yaml.js';
import { ErrorCode } from '../../src/errors.js';
import { errorOf } from '../harness/expect.js';

/** The node tree as plain values (scalars as strings, null as null). */
function plain(n: YamlNode): unknown {
  switch (n.kind) {
    case 'null':
      return null;
    case 'scalar':
      return n.value;
    case 'seq':
      return n.items.map(plain);
    case 'map':
      return Object.fromEntries([...n.entries].map(([k, v]) => [k, plain(v.value)]));
  }
}

const parse = (text: string) => plain(parseYaml(text, 'f.yaml'));

describe('sync/yaml: the YAML subset of sync files', () => {
  it('reads block mappings, lists (indented or not), flow lists, quotes, comments and empty values', () => {
    const text = [
      '---',
      '# comment',
      'localhost:5000:   # host with a port as key',
      '  images:',
      '    busybox: []',
      '    redis:',
      '      - "1.0"',
      "      - '2.0 it''s'",
      '      - 1.10   # stays text',
      '    alpine:',
      '    - 3.18',
      '    empty:',
      '  images-by-tag-regex:',
      '    nginx: ^1\\.13\\.[12]-alpine-perl$',
      '  tls-verify: false',
      '  "quoted key": "tab\\there \\u00e9"',
      '  flow: [a, "b, c", \'d\' ,]',
      '  obj: {}',
      '  nothing: ~',
      'quay.io: {}',
    ].join('\r\n');
    expect(parse(text)).to.deep.equal({
      'localhost:5000': {
        images: { busybox: [], redis: ['1.0', "2.0 it's", '1.10'], alpine: ['3.18'], empty: null },
        'images-by-tag-regex': { nginx: '^1\\.13\\.[12]-alpine-perl$' },
        'tls-verify': 'false',
        'quoted key': 'tab\there é',
        flow: ['a', 'b, c', 'd'],
        obj: {},
        nothing: null,
      },
      'quay.io': {},
    });
  });

  it('keeps line numbers and knows quoted scalars from plain ones', () => {
    const n = parseYaml('a:\n\n  b: "true"\n  c: true\n', 'f');
    expect(n.kind).to.equal('map');
    const a = (n as Extract<YamlNode, { kind: 'map' }>).entries.get('a')!;
    expect(a.line).to.equal(1);
    const inner = (a.value as Extract<YamlNode, { kind: 'map' }>).entries;
    expect(inner.get('b')).to.deep.include({ line: 3 });
    expect(inner.get('b')!.value).to.deep.include({ value: 'true', quoted: true });
    expect(inner.get('c')!.value).to.deep.include({ value: 'true', quoted: false });
    expect(parse('')).to.equal(null);
    expect(parse('# only a comment\n')).to.equal(null);
  });

  const bad: [string, string][] = [
    ['a:\n  b: [x, y\n', 'f.yaml:2: unterminated "[": flow lists must end on the same line'],
    ['a:\n\tb: 1\n', 'f.yaml:2: tabs are not allowed for indentation'],
    ['a: 1\na: 2\n', 'f.yaml:2: key "a" is already defined on line 1'],
    ['a: 1\n  b: 2\n', 'f.yaml:2: unexpected indentation (the value of "a" is already given on line 1; multi-line values are not supported)'],
    ['a:\n  b: 1\n c: 2\n', 'f.yaml:3: unexpected indentation'],
    ['a: |\n  text\n', 'f.yaml:1: block scalars ("|", ">") are not supported; write the value on one line, quoted if needed'],
    ['a: &x 1\n', 'f.yaml:1: anchors and aliases are not supported'],
    ['a: "open\n', 'f.yaml:1: unterminated quoted string (multi-line strings are not supported)'],
    ['a:\n  - b: 1\n', 'f.yaml:2: mappings or lists inside a list are not supported here; write one value per "- " line'],
    ['a: b: c\n', 'f.yaml:1: unexpected ": " in the value "b: c"; quote the value'],
    ['a: "x" y\n', 'f.yaml:1: unexpected text "y" after the value'],
    ['a: {b: 1}\n', 'f.yaml:1: flow mappings ("{...}") are not supported, except the empty "{}"'],
    ['a: 1\n---\nb: 2\n', 'f.yaml:2: only one YAML document is supported'],
    ['a:\n  just text\n  b: 1\n', 'f.yaml:2: expected "key: value", got "just text"'],
    ['a: "\\q"\n', 'f.yaml:1: unknown escape "\\q" in a double-quoted string'],
  ];
  for (const [text, msg] of bad) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      const e = errorOf(() => parseYaml(text, 'f.yaml'));
      expect(e.code).to.equal(ErrorCode.Config);
      expect(e.message).to.equal(msg);
    });
  }
});
