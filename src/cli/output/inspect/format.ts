/**
 * Turning an {@link InspectResult} into the bytes `inspect` prints, like skopeo: indented Go JSON plus a
 * newline by default, raw bytes as they are, or a `--format` Go template run the way containers/common's
 * report package runs user templates (literal `\t`/`\n` become tab/newline, a newline is added if missing,
 * `json` / `{{json .}}` means the JSON output).
 */
import { FerryError, ErrorCode } from '../../../errors.js';
import { ociImageJson, type OciImage } from '../../../manifest/config.js';
import { GoNil } from './go-fmt.js';
import { goJsonIndent } from '../go-json.js';
import { inspectInfoJson, type InspectInfo } from '../../../image/inspect-info.js';
import type { InspectResult } from '../../../image/inspect.js';
import { renderTemplate } from './template.js';

const IS_JSON = /^\s*(json|\{\{\s*json\s*(\.)?\s*\}\})\s*$/;

/** Whether a `--format` value asks for the JSON output (`json`, `{{json .}}`). */
export function isJsonFormat(format: string): boolean {
  return IS_JSON.test(format);
}

/**
 * Runs a user `--format` template as skopeo does: `\t` and `\n` written as two characters become tab and
 * newline, and the output ends with a newline.
 * @throws FerryError(E_USAGE) for template errors.
 */
export function renderUserFormat(format: string, data: unknown): string {
  let tpl = format.replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  if (!tpl.endsWith('\n')) tpl += '\n';
  return renderTemplate(tpl, data);
}

const nil = <T>(v: T | null, kind: 'map' | 'slice' | 'ptr'): T | GoNil => (v === null ? new GoNil(kind) : v);

function withJson<T extends object>(v: T, json: () => unknown): T {
  Object.defineProperty(v, 'toJSON', { value: json, enumerable: false });
  return v;
}

/** The template view of an {@link InspectInfo}: Go nils typed so they print as skopeo prints them. */
export function inspectInfoTemplateData(info: InspectInfo): Record<string, unknown> {
  return withJson(
    {
      ...info,
      Created: nil(info.Created, 'ptr'),
      Labels: nil(info.Labels, 'map'),
      Env: nil(info.Env, 'slice'),
      LayersData: info.LayersData.map((l) => ({ ...l, Annotations: nil(l.Annotations, 'map') })),
      Platforms: nil(info.Platforms, 'slice'),
    },
    () => inspectInfoJson(info),
  );
}

/** The template view of a `v1.Image` (Go field names; `{{json .Config}}` gives the JSON field names). */
export function ociImageTemplateData(img: OciImage): Record<string, unknown> {
  const json = ociImageJson(img);
  const c = img.Config;
  return withJson(
    {
      Created: nil(img.Created, 'ptr'),
      Author: img.Author,
      Architecture: img.Architecture,
      Variant: img.Variant,
      OS: img.OS,
      OSVersion: img.OSVersion,
      OSFeatures: nil(img.OSFeatures, 'slice'),
      Config: withJson(
        {
          User: c.User,
          ExposedPorts: nil(c.ExposedPorts, 'map'),
          Env: nil(c.Env, 'slice'),
          Entrypoint: nil(c.Entrypoint, 'slice'),
          Cmd: nil(c.Cmd, 'slice'),
          Volumes: nil(c.Volumes, 'map'),
          WorkingDir: c.WorkingDir,
          Labels: nil(c.Labels, 'map'),
          StopSignal: c.StopSignal,
          ArgsEscaped: c.ArgsEscaped,
        },
        () => json.config,
      ),
      RootFS: withJson({ Type: img.RootFS.Type, DiffIDs: nil(img.RootFS.DiffIDs, 'slice') }, () => json.rootfs),
      History: nil(
        img.History?.map((h, i) =>
          withJson({ ...h, Created: nil(h.Created, 'ptr') }, () => (json.history as unknown[] | undefined)?.[i]),
        ) ?? null,
        'slice',
      ),
    },
    () => json,
  );
}

/**
 * The bytes `inspect` prints for `result`: raw bytes unchanged; otherwise indented JSON + newline, or the
 * rendered `format` template.
 * @throws FerryError(E_USAGE) for `format` with raw output, or a failing template.
 */
export function renderInspectResult(result: InspectResult, opts: { format?: string } = {}): Buffer {
  const format = opts.format ?? '';
  if (result.kind === 'raw') {
    if (format !== '') throw new FerryError(ErrorCode.Usage, 'raw output does not support format option');
    return result.bytes;
  }
  const json = result.kind === 'info' ? inspectInfoJson(result.info) : ociImageJson(result.config);
  if (format === '' || isJsonFormat(format)) return Buffer.from(`${goJsonIndent(json)}\n`, 'utf8');
  const data = result.kind === 'info' ? inspectInfoTemplateData(result.info) : ociImageTemplateData(result.config);
  return Buffer.from(renderUserFormat(format, data), 'utf8');
}
