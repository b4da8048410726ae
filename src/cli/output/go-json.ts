/**
 * Hand-written to match Go's encoding/json byte for byte.
 *
 * The JSON printer the CLI uses for `inspect` output: Go's `json.MarshalIndent(v, "", "    ")`
 * (struct key order, sorted maps, `<`/`>`/`&` escaped as `\u003c`…). See `manifest/go-json.ts` for the value model.
 */
import { goMarshal, goMarshalIndent } from '../../manifest/go-json.js';

/** `json.MarshalIndent(value, "", "    ")` without a trailing newline (skopeo prints one after it). */
export function goJsonIndent(value: unknown): string {
  return goMarshalIndent(value, '    ');
}

/** `json.Marshal(value)` (compact); `escapeHtml: false` is `json.Encoder.SetEscapeHTML(false)`. */
export function goJson(value: unknown, escapeHtml = true): string {
  return goMarshal(value, { escapeHtml });
}
