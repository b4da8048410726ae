/**
 * Image configs. {@link OciImage} mirrors the Go struct `v1.Image` of the OCI image-spec (field names as in Go,
 * so `inspect --config --format '{{.Config.Env}}'` works as in skopeo); {@link ociImageJson} gives its JSON
 * view with Go's key order and `omitempty` rules. Docker configs are read the way containers/image does:
 * decoded straight into `v1.Image`, which drops Docker-only fields.
 */
import { GoTime } from './go-time.js';
import { goMarshal } from './go-json.js';
import { bool, obj, objects, parseJsonObject, setMap, str, stringMap, strings, field, invalid, type JsonObject } from './go-decode.js';

/** `v1.ImageConfig`. Go nil values are `null`. */
export interface OciImageConfig {
  User: string;
  ExposedPorts: Map<string, Record<string, never>> | null;
  Env: string[] | null;
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  Volumes: Map<string, Record<string, never>> | null;
  WorkingDir: string;
  Labels: Map<string, string> | null;
  StopSignal: string;
  ArgsEscaped: boolean;
}

/** `v1.RootFS`. */
export interface OciRootFS {
  Type: string;
  DiffIDs: string[] | null;
}

/** `v1.History`. */
export interface OciHistory {
  Created: GoTime | null;
  CreatedBy: string;
  Author: string;
  Comment: string;
  EmptyLayer: boolean;
}

/** `v1.Image`: the OCI image config. */
export interface OciImage {
  Created: GoTime | null;
  Author: string;
  Architecture: string;
  Variant: string;
  OS: string;
  OSVersion: string;
  OSFeatures: string[] | null;
  Config: OciImageConfig;
  RootFS: OciRootFS;
  History: OciHistory[] | null;
}

const WHAT = 'image config';

function time(o: JsonObject, name: string): GoTime | null {
  const v = field(o, name);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid(WHAT, `field "${name}" must be a string`);
  return GoTime.parse(v, `${WHAT}: ${name}`);
}

/**
 * Decodes a config blob (OCI or Docker) into `v1.Image`, as containers/image's `OCIConfig()` does.
 * @throws FerryError(E_INVALID_MANIFEST)
 */
export function parseOciImage(bytes: Buffer | string): OciImage {
  const o = parseJsonObject(bytes, WHAT);
  const c = obj(o, 'config', WHAT) ?? {};
  const r = obj(o, 'rootfs', WHAT) ?? {};
  const h = objects(o, 'history', WHAT);
  return {
    Created: time(o, 'created'),
    Author: str(o, 'author', WHAT),
    Architecture: str(o, 'architecture', WHAT),
    Variant: str(o, 'variant', WHAT),
    OS: str(o, 'os', WHAT),
    OSVersion: str(o, 'os.version', WHAT),
    OSFeatures: strings(o, 'os.features', WHAT),
    Config: {
      User: str(c, 'User', WHAT),
      ExposedPorts: setMap(c, 'ExposedPorts', WHAT),
      Env: strings(c, 'Env', WHAT),
      Entrypoint: strings(c, 'Entrypoint', WHAT),
      Cmd: strings(c, 'Cmd', WHAT),
      Volumes: setMap(c, 'Volumes', WHAT),
      WorkingDir: str(c, 'WorkingDir', WHAT),
      Labels: stringMap(c, 'Labels', WHAT),
      StopSignal: str(c, 'StopSignal', WHAT),
      ArgsEscaped: bool(c, 'ArgsEscaped', WHAT),
    },
    RootFS: { Type: str(r, 'type', WHAT), DiffIDs: strings(r, 'diff_ids', WHAT) },
    History:
      h === null
        ? null
        : h.map((e) => ({
            Created: time(e, 'created'),
            CreatedBy: str(e, 'created_by', WHAT),
            Author: str(e, 'author', WHAT),
            Comment: str(e, 'comment', WHAT),
            EmptyLayer: bool(e, 'empty_layer', WHAT),
          })),
  };
}

/** `toOciConfig(dockerConfigBytes)`: a Docker (or OCI) config converted to the OCI config, as skopeo's `inspect --config` shows it. */
export const toOciConfig = parseOciImage;

const omitEmpty = <T>(v: T | null | '' | false): T | undefined =>
  v === null || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (v instanceof Map && v.size === 0) ? undefined : (v as T);

/** The JSON view of `v1.Image` (Go key order, `omitempty`), for {@link goMarshal}. */
export function ociImageJson(img: OciImage): Record<string, unknown> {
  const c = img.Config;
  return {
    created: img.Created ?? undefined,
    author: omitEmpty(img.Author),
    architecture: img.Architecture,
    variant: omitEmpty(img.Variant),
    os: img.OS,
    'os.version': omitEmpty(img.OSVersion),
    'os.features': omitEmpty(img.OSFeatures),
    config: {
      User: omitEmpty(c.User),
      ExposedPorts: omitEmpty(c.ExposedPorts),
      Env: omitEmpty(c.Env),
      Entrypoint: omitEmpty(c.Entrypoint),
      Cmd: omitEmpty(c.Cmd),
      Volumes: omitEmpty(c.Volumes),
      WorkingDir: omitEmpty(c.WorkingDir),
      Labels: omitEmpty(c.Labels),
      StopSignal: omitEmpty(c.StopSignal),
      ArgsEscaped: omitEmpty(c.ArgsEscaped),
    },
    rootfs: { type: img.RootFS.Type, diff_ids: img.RootFS.DiffIDs },
    history: omitEmpty(
      img.History?.map((e) => ({
        created: e.Created ?? undefined,
        created_by: omitEmpty(e.CreatedBy),
        author: omitEmpty(e.Author),
        comment: omitEmpty(e.Comment),
        empty_layer: omitEmpty(e.EmptyLayer),
      })) ?? null,
    ),
  };
}

/** `json.Marshal(v1.Image)`: the compact OCI config bytes containers/image writes when converting to OCI. */
export function serializeOciImage(img: OciImage): Buffer {
  return Buffer.from(goMarshal(ociImageJson(img)), 'utf8');
}

/** The fields `inspect` reads from a config (containers/image `Schema2Image` / `v1.Image` + `docker_version`). */
export interface ConfigInspectFields {
  /** null when absent (OCI); Docker configs decode to Go's zero time instead. */
  Created: GoTime | null;
  DockerVersion: string;
  Author: string;
  Architecture: string;
  Variant: string;
  Os: string;
  Labels: Map<string, string> | null;
  Env: string[] | null;
}

/**
 * Reads what `inspect` shows from a config blob. `docker` selects Docker semantics (`created` is a
 * non-pointer time, `config` may be absent); otherwise OCI (`v1.Image`) semantics.
 */
export function configInspectFields(bytes: Buffer | string, docker: boolean): ConfigInspectFields {
  const o = parseJsonObject(bytes, WHAT);
  const c = obj(o, 'config', WHAT);
  const created = time(o, 'created');
  return {
    Created: docker ? (created ?? GoTime.zero()) : created,
    DockerVersion: str(o, 'docker_version', WHAT),
    Author: str(o, 'author', WHAT),
    Architecture: str(o, 'architecture', WHAT),
    Variant: str(o, 'variant', WHAT),
    Os: str(o, 'os', WHAT),
    Labels: c === undefined ? null : stringMap(c, 'Labels', WHAT),
    Env: c === undefined ? null : strings(c, 'Env', WHAT),
  };
}
