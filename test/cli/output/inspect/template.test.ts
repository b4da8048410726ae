import { expect } from 'chai';
import { isCode } from '../../../../src/errors.js';
import { GoTime } from '../../../../src/manifest/go-time.js';
import { GoNil } from '../../../../src/cli/output/inspect/go-fmt.js';
import { renderTemplate } from '../../../../src/cli/output/inspect/template.js';
import { renderUserFormat } from '../../../../src/cli/output/inspect/format.js';

const data = {
  Name: '',
  Digest: 'sha256:abc',
  RepoTags: [] as string[],
  Created: GoTime.parse('2024-01-02T03:04:05.123456789Z'),
  Labels: new Map([
    ['z', '1'],
    ['a', 'x<y'],
  ]),
  Os: 'linux',
  Layers: ['sha256:l1', 'sha256:l2'],
  Env: ['PATH=/usr/bin', 'A=<b>&c'],
  Nothing: new GoNil('map'),
  NoEnv: new GoNil('slice'),
  NoTime: new GoNil('ptr'),
  Item: { MIMEType: 'm', Size: 3, Annotations: new GoNil('map') },
};

function usageError(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isCode(e, 'E_USAGE'), String(e)).to.equal(true);
    expect((e as Error).message).to.match(re);
    return;
  }
  expect.fail('expected E_USAGE');
}

describe('cli/output/inspect/template', () => {
  it('prints fields like Go fmt (maps sorted, slices, times, nils)', () => {
    expect(renderTemplate('{{.Labels}} {{.Layers}}|{{.Created}}|{{.RepoTags}}|{{.Name}}|', data)).to.equal(
      'map[a:x<y z:1] [sha256:l1 sha256:l2]|2024-01-02 03:04:05.123456789 +0000 UTC|[]||',
    );
    expect(renderTemplate('{{.Nothing}}|{{.NoEnv}}|{{.NoTime}}|{{.Item}}', data)).to.equal('map[]|[]|<nil>|{m 3 map[]}');
  });

  it('supports index, len, range, if/else, with, variables, pipes, printf and json', () => {
    const tpl =
      '{{ .Labels.a }}|{{.Labels.nokey}}|{{index .Labels "nokey"}}|{{printf "%s-%d %v %q" .Os 5 .Layers .Os}}|{{len .Labels}}|' +
      '{{- " x " -}}|{{"a\\"b"}}|{{.Layers | len}}|{{eq .Os "linux"}}|{{not .Labels}}|{{with .Labels}}{{.a}}{{end}}|' +
      '{{range $i, $l := .Env}}{{$i}}={{$l}};{{end}}|{{range $k, $v := .Labels}}{{$k}}:{{$v}},{{end}}|';
    // Expected output taken from skopeo 1.9.3 running the same template.
    expect(renderTemplate(tpl, data)).to.equal(
      'x<y|<no value>||linux-5 [sha256:l1 sha256:l2] "linux"|2| x |a"b|2|true|false|x<y|0=PATH=/usr/bin;1=A=<b>&c;|a:x<y,z:1,|',
    );
    expect(renderTemplate('{{range .NoEnv}}x{{else}}empty{{end}}|{{if .Nothing}}L{{else if .Os}}os{{else}}none{{end}}', data)).to.equal('empty|os');
    expect(renderTemplate('{{json .Labels}} {{json .Env}} {{json .Nothing}} {{index .Layers 1}}', data)).to.equal(
      '{"a":"x<y","z":"1"} ["PATH=/usr/bin","A=<b>&c"] null sha256:l2',
    );
    expect(renderTemplate('a\\nb{{/* comment */}}\n{{- .Os -}}\n!', data)).to.equal('a\\nblinux!');
  });

  it('renders user formats like skopeo: \\n and \\t expanded, trailing newline added', () => {
    expect(renderUserFormat('{{.Os}}\\t{{.Digest}}', data)).to.equal('linux\tsha256:abc\n');
    expect(renderUserFormat('{{.Os}}\\n', data)).to.equal('linux\n');
    expect(renderUserFormat('{{.Os}}\\\\n', data)).to.equal('linux\\\n');
  });

  it('fails with clear E_USAGE errors', () => {
    usageError(() => renderTemplate('{{.Nope}}', data), /can't evaluate field Nope/);
    usageError(() => renderTemplate('{{.Os.X}}', data), /can't evaluate field X in type string/);
    usageError(() => renderTemplate('{{index .Layers 5}}', data), /index out of range: 5/);
    usageError(() => renderTemplate('{{.Os', data), /unclosed action/);
    usageError(() => renderTemplate('{{range .Layers}}x', data), /missing \{\{end\}\}/);
    usageError(() => renderTemplate('{{nofunc .Os}}', data), /function "nofunc" not defined/);
    usageError(() => renderTemplate('{{end}}', data), /unexpected \{\{end\}\}/);
  });
});
