/**
 * Printing the plan of `sync --dry-run` (src/sync/plan.ts, src/sync/prune.ts) on standard output: one line per
 * image and per destination tag considered for pruning, then a total line (`--output text`); or one JSON document
 * (`--output json`).
 */
import type { PlannedImage, SyncPlan } from '../../sync/plan.js';
import type { RepositoryPrune } from '../../sync/prune.js';
import { redactCredentials } from '../../util/redact.js';
import { formatBytes } from './progress.js';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `copy docker://…:v1 to docker://…:v1: not at destination (2 blobs, 3.1KiB)` (`…, 1 mounted)` when some are). */
export function planImageLine(p: PlannedImage): string {
  const what = p.to === '' ? p.from : `${p.from} to ${p.to}`;
  let moves = '';
  const mounted = p.mounted ? `, ${p.mounted} mounted` : '';
  if (p.action === 'copy') moves = p.blobs === undefined ? ' (blobs: unknown)' : ` (${plural(p.blobs, 'blob')}, ${formatBytes(p.bytes ?? 0)}${mounted})`;
  return `${p.action} ${what}: ${redactCredentials(p.reason)}${moves}`;
}

/** The lines of a plan, and the total line last. */
export function planText(plan: SyncPlan, prune: RepositoryPrune[] | undefined): string {
  const lines = plan.images.map(planImageLine);
  let pruned = 0;
  for (const repo of prune ?? []) {
    for (const c of repo.candidates) {
      if (c.action === 'prune') pruned++;
      lines.push(`${c.action} ${c.name}: ${c.reason} (${c.digest})`);
    }
    if (repo.refused !== undefined) lines.push(`refused ${repo.repository}: ${repo.refused}`);
  }
  const t = plan.totals;
  const unknown = t.unknownImages > 0 ? ` (not counting the blobs of ${plural(t.unknownImages, 'image')}: unknown)` : '';
  const prunes = prune !== undefined ? `, prune ${plural(pruned, 'tag')}` : '';
  const failed = t.failed > 0 ? `, ${t.failed} failing` : '';
  lines.push(
    `Plan: copy ${plural(t.copy, 'image')}, skip ${t.skip}${prunes}${failed}; ` +
      `${plural(t.blobs, 'blob')} (${formatBytes(t.bytes)}) to move${unknown}, ${t.mountedBlobs} to mount from other repositories, ${t.presentBlobs} already at the destination`,
  );
  return lines.join('\n') + '\n';
}

/** The plan as one JSON document (see ferry-sync(1) **DRY RUN**). */
export function planJson(plan: SyncPlan, prune: RepositoryPrune[] | undefined): string {
  const images = plan.images.map((p) => ({
    action: p.action,
    source: p.from,
    destination: p.to,
    reason: redactCredentials(p.reason),
    digest: p.digest ?? '',
    destinationDigest: p.destinationDigest ?? '',
    blobs: p.blobs ?? null,
    bytes: p.bytes ?? null,
    mounted: p.mounted ?? null,
  }));
  const prunes = (prune ?? []).map((r) => ({
    repository: r.repository,
    tags: r.tags,
    limit: r.limit,
    refused: r.refused ?? '',
    candidates: r.candidates.map((c) => ({ action: c.action, destination: c.name, digest: c.digest, reason: c.reason })),
  }));
  const pruned = (prune ?? []).reduce((n, r) => n + r.candidates.filter((c) => c.action === 'prune').length, 0);
  const { copy, skip, failed, blobs, bytes, presentBlobs, mountedBlobs, unknownImages } = plan.totals;
  const doc = {
    images,
    ...(prune !== undefined ? { prune: prunes } : {}),
    totals: { copy, skip, failed, ...(prune !== undefined ? { prune: pruned } : {}), blobs, bytes, presentBlobs, mountedBlobs, unknownImages },
  };
  return JSON.stringify(doc, null, 2) + '\n';
}
