/** The outcome of one requirement for one image, and containers/image's summary of rejected signatures. */

/** Allowed, or refused with the reason. */
export type Verdict = { allowed: true } | { allowed: false; reason: string };

/**
 * The verdict after every signature was rejected for `reasons` (one per signature): no signature at all, the one
 * reason, or all of them (containers/image's wording, which scripts match).
 */
export function summarize(reasons: string[], noneDetail = ''): Verdict {
  if (reasons.length === 0) return { allowed: false, reason: `A signature was required, but no signature exists${noneDetail}` };
  if (reasons.length === 1) return { allowed: false, reason: reasons[0]! };
  return { allowed: false, reason: `None of the signatures were accepted, reasons: ${reasons.join('; ')}` };
}
