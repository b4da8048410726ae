/**
 * An instant as Go's `time.Time` marshals it in the local zone (what `os.FileInfo.ModTime()` and `time.Now()`
 * give in containers/image): RFC 3339 with nanoseconds (trailing zeros trimmed) and the zone's offset at that
 * instant (`Z` for UTC), the zone coming from `TZ` as for Go.
 */
import { GoTime } from '../../manifest/go-time.js';

/** `epochNanos` (nanoseconds since 1970, UTC) in the local time zone. */
export function localGoTime(epochNanos: bigint): GoTime {
  const ms = Number(epochNanos / 1_000_000n);
  const offset = -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + offset * 60_000);
  const nanos = String(((epochNanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, '0');
  const abs = Math.abs(offset);
  const zone = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return GoTime.parse(`${local.toISOString().slice(0, 19)}.${nanos}${zone}`, 'time');
}
