/**
 * Platforms: the one ferry runs on (in Go's names) and choosing an instance of a multi-platform image,
 * following containers/image's platform matcher (`internal/pkg/platform`) and `chooseInstance`.
 */
import { readFileSync } from 'node:fs';
import { FerryError, ErrorCode } from '../errors.js';
import { MediaType } from './media-types.js';
import type { ManifestDescriptor, ManifestList, Platform } from './types.js';

/** The platform wanted by the user (`--override-os/-arch/-variant`); missing parts default to the running system. */
export interface WantedPlatform {
  os?: string;
  architecture?: string;
  variant?: string;
}

const GOOS: Record<string, string> = { win32: 'windows', sunos: 'solaris' };
const GOARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  x32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc: 'ppc',
  s390x: 's390x',
  s390: 's390',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  mips64: 'mips64',
  mips64el: 'mips64le',
};

/** Maps Node's `process.platform`/`process.arch` (and endianness, ARM version) to Go's GOOS/GOARCH/variant. */
export function goPlatformOf(nodePlatform: string, nodeArch: string, opts: { littleEndian?: boolean; armVersion?: string } = {}): Platform {
  const os = GOOS[nodePlatform] ?? nodePlatform;
  let architecture = GOARCH[nodeArch] ?? nodeArch;
  if (nodeArch === 'ppc64') architecture = opts.littleEndian === false ? 'ppc64' : 'ppc64le';
  const p: Platform = { os, architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = opts.armVersion ?? '';
    if (/^[5-7]$/.test(v)) p.variant = `v${v}`;
    else if (os === 'windows') p.variant = 'v7';
  }
  return p;
}

let cached: Platform | undefined;

/** The platform ferry runs on, in Go's names (x64→amd64, ia32→386, arm64→arm64/v8, arm→arm/vN, ppc64→ppc64le, …). */
export function currentPlatform(): Platform {
  if (cached === undefined) {
    const vars = (process.config as { variables?: Record<string, unknown> }).variables ?? {};
    const armVersion = vars.arm_version !== undefined ? String(vars.arm_version) : process.arch === 'arm' ? cpuinfoArmVersion() : undefined;
    cached = goPlatformOf(process.platform, process.arch, { littleEndian: isLittleEndian(), armVersion });
  }
  return { ...cached };
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function cpuinfoArmVersion(): string | undefined {
  try {
    const m = /^CPU architecture\s*:\s*(\d)/im.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m?.[1];
  } catch {
    return undefined;
  }
}

/** For an architecture, its variants from most capable to most compatible. */
const COMPATIBILITY: Record<string, readonly string[]> = {
  arm: ['v8', 'v7', 'v6', 'v5'],
  arm64: ['v8'],
  amd64: ['v4', 'v3', 'v2', 'v1'],
};

/**
 * The platforms acceptable for `wanted`, best first (containers/image `WantedPlatforms`): the variant is
 * detected only when the architecture is not given; a wanted variant also accepts the less capable variants
 * of its architecture and then "no variant"; no variant accepts "no variant" and then every variant of the
 * architecture, most capable first (`arm` → arm/v7 when that is the best an index has), except for amd64, where
 * only the baseline `v1` counts as "no variant".
 * The OS defaults to the running one, except macOS and Windows hosts default to `linux` (like skopeo).
 */
export function wantedPlatforms(wanted: WantedPlatform = {}): { os: string; architecture: string; variant: string }[] {
  const here = currentPlatform();
  const architecture = wanted.architecture || here.architecture;
  let variant = wanted.architecture ? '' : (here.variant ?? '');
  if (wanted.variant) variant = wanted.variant;
  const os = wanted.os || (here.os === 'darwin' || here.os === 'windows' ? 'linux' : here.os);
  let variants: string[];
  if (variant !== '') {
    const order = COMPATIBILITY[architecture] ?? [];
    const i = order.indexOf(variant);
    variants = i >= 0 ? [...order.slice(i), ''] : [variant, ''];
  } else {
    variants = ['', ...(architecture === 'amd64' ? ['v1'] : (COMPATIBILITY[architecture] ?? []))];
  }
  return variants.map((v) => ({ os, architecture, variant: v }));
}

/** `os/arch[/variant]`. */
export function platformString(p: Platform | undefined): string {
  if (p === undefined) return 'unknown';
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

function isZstdInstance(d: ManifestDescriptor): boolean {
  return d.annotations?.['io.github.containers.compression.zstd'] === 'true';
}

/**
 * Chooses the instance of `list` for the wanted platform, like containers/image: the best-ranked wanted
 * platform wins, then (OCI index) zstd instances over gzip ones, then the first in the list; in an OCI index an
 * entry without platform is accepted as a last resort.
 * @throws FerryError(E_NO_MATCHING_PLATFORM) `choosing image instance: no image found in manifest list for architecture
 *         s390x, variant "", OS linux; available: …` (`image index` for an OCI index).
 */
export function choosePlatformInstance(list: ManifestList, wanted: WantedPlatform = {}): ManifestDescriptor {
  const wants = wantedPlatforms(wanted);
  const isOci = list.mediaType === MediaType.OciIndex;
  let best: { rank: number; zstd: boolean; d: ManifestDescriptor } | undefined;
  for (const d of list.manifests) {
    let rank = Number.MAX_SAFE_INTEGER;
    if (d.platform !== undefined) {
      const p = d.platform;
      rank = wants.findIndex((w) => w.os === p.os && w.architecture === p.architecture && w.variant === (p.variant ?? ''));
      if (rank < 0) continue;
    } else if (!isOci) continue;
    const zstd = isOci && isZstdInstance(d);
    if (best === undefined || rank < best.rank || (rank === best.rank && zstd && !best.zstd)) best = { rank, zstd, d };
  }
  if (best !== undefined) return best.d;
  const w = wants[0]!;
  const kind = isOci ? 'image index' : 'manifest list';
  const available = list.manifests.map((d) => platformString(d.platform));
  throw new FerryError(
    ErrorCode.NoMatchingPlatform,
    // containers/image's words (architecture and OS bare, variant quoted), which scripts match; then what there is
    `choosing image instance: no image found in ${kind} for architecture ${w.architecture}, variant ${JSON.stringify(w.variant)}, OS ${w.os}; available: ${available.length > 0 ? available.join(', ') : 'none'}`,
  );
}
