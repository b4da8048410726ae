import { expect } from 'chai';
import { parseToml } from '../../src/config/toml.js';
import { FerryError } from '../../src/errors.js';

function configError(text: string): FerryError {
  try {
    parseToml(text, 'x.conf');
  } catch (e) {
    expect(e).to.be.instanceOf(FerryError);
    expect((e as FerryError).code).to.equal('E_CONFIG');
    return e as FerryError;
  }
  expect.fail('expected a parse error');
}

describe('config/toml', () => {
  it('parses tables, arrays of tables, nested arrays of tables, strings, booleans, integers and comments', () => {
    const doc = parseToml(`
# comment
unqualified-search-registries = ["a.io", 'b.io',  # trailing comment
  "c.io", ]   
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"   # a comment
location = "mirror.local/bar"
insecure = true
blocked = false

[[registry.mirror]]
location = "m1.local"
[[registry.mirror]]
location = "m2.local"
pull-from-mirror = "digest-only"

[[registry]]
location = "quay.io"
count = -1_000

[aliases]
"busybox" = "docker.io/library/busybox"
'lit\\x' = "v"
a.b.c = 1
`);
    expect(doc['unqualified-search-registries']).to.deep.equal(['a.io', 'b.io', 'c.io']);
    expect(doc['short-name-mode']).to.equal('enforcing');
    const regs = doc['registry'] as Record<string, unknown>[];
    expect(regs).to.have.length(2);
    expect(regs[0]).to.deep.include({ prefix: 'example.com/foo', location: 'mirror.local/bar', insecure: true, blocked: false });
    expect(regs[0]!['mirror']).to.deep.equal([{ location: 'm1.local' }, { location: 'm2.local', 'pull-from-mirror': 'digest-only' }]);
    expect(regs[1]).to.deep.equal({ location: 'quay.io', count: -1000 });
    expect(doc['aliases']).to.deep.equal({ busybox: 'docker.io/library/busybox', 'lit\\x': 'v', a: { b: { c: 1 } } });
  });

  it('decodes basic-string escapes and keeps literal strings raw', () => {
    const doc = parseToml(String.raw`a = "q\"uote\\ \t\u00e9\U0001F600"` + '\n' + String.raw`b = 'C:\path\n'` + '\n');
    expect(doc['a']).to.equal('q"uote\\ \t\u00e9\u{1F600}');
    expect(doc['b']).to.equal('C:\\path\\n');
  });

  it('parses multi-line strings and inline tables', () => {
    const doc = parseToml('s = """\nline1\nline2"""\nt = { x = "1", y = true }\nl = \'\'\'\nraw\\n\'\'\'\n');
    expect(doc['s']).to.equal('line1\nline2');
    expect(doc['t']).to.deep.equal({ x: '1', y: true });
    expect(doc['l']).to.equal('raw\\n');
  });

  it('reads comment-heavy files and runs of keys and strings like registries.conf and shortnames.conf', () => {
    const comments = Array.from({ length: 50 }, (_, i) => `# comment ${i} with "quotes", [brackets] and = signs\r`).join('\n');
    const aliases = Array.from({ length: 50 }, (_, i) => `"img-${i}.x" = "docker.io/library/img-${i}" # why`).join('\n');
    const doc = parseToml(`${comments}\n[aliases]\n${aliases}\nbare_Key-1 = "a\\"b"\n# last comment, no newline`);
    const table = doc['aliases'] as Record<string, string>;
    expect(Object.keys(table)).to.have.length(51);
    expect(table['img-0.x']).to.equal('docker.io/library/img-0');
    expect(table['img-49.x']).to.equal('docker.io/library/img-49');
    expect(table['bare_Key-1']).to.equal('a"b');
    expect(parseToml('# only a comment')).to.deep.equal({});
    expect(configError('a = 1\nb = "abc').message).to.equal('x.conf:2: unfinished string');
    expect(configError('# c\n\n= 1\n').message).to.match(/^x\.conf:3: /);
  });

  it('accepts CRLF line endings', () => {
    expect(parseToml('a = "x"\r\n[t]\r\nb = true\r\n')).to.deep.equal({ a: 'x', t: { b: true } });
  });

  it('reports errors with the file name and line number, without the parser\'s excerpt of the text', () => {
    expect(configError('a = "x"\n\nb = "unterminated\n').message).to.equal('x.conf:3: control characters are not allowed in strings');
    expect(configError('a = 1\na = 2\n').message).to.equal('x.conf:2: trying to redefine an already defined table or value');
    expect(configError('[t]\n[t]\n').message).to.match(/^x\.conf:2: /);
    expect(configError('a = [1, 2\n').message).to.match(/^x\.conf:2: /);
    expect(configError('a = "x" b\n').message).to.match(/^x\.conf:1: /);
    expect(configError('a = "\\q"\n').message).to.match(/^x\.conf:1: unrecognised escape/);
    expect(configError('a\n').message).to.match(/^x\.conf:1: /);
    expect(configError('a = 1\n[[a]]\n').message).to.match(/^x\.conf:2: /);
  });

  it('refuses dates and times, which no setting of these files takes', () => {
    expect(configError('[storage]\ndriver = 1979-05-27\n').message).to.equal('x.conf: storage.driver: a date or time is not a valid value here');
  });
});
