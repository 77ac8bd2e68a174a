/**
 * ListCustomers' total_size: exact up to EXACT_COUNT_LIMIT matches, estimated
 * past it from how densely the first and last matches lie, so that a first
 * page never counts a million index entries. Each engine samples the matches
 * (src/customers/stores/); the arithmetic is here.
 */
import { MAX_TOTAL_SIZE } from "../db/paging";

/** total_size counts this many matches exactly; past it, it estimates. */
export const EXACT_COUNT_LIMIT = 1000;

/**
 * How many matches a bounded count saw and, past its limit, where matches lie
 * along the axis they were sampled on (ids, or creation times in seconds).
 */
export interface MatchSample {
  /** At most the limit + 1. */
  matches: bigint;
  /**
   * Past the limit only: the first match, the match `limit` places after it,
   * the match `limit` places before the last, and the last match.
   */
  firstMatchAt: number | bigint | null;
  frontEndAt: number | bigint | null;
  backStartAt: number | bigint | null;
  lastMatchAt: number | bigint | null;
}

/**
 * The exact count up to `limit`. Past it: the `limit` + 1 matches at each end,
 * plus the matches between them if they lie as densely as at the denser end.
 * Exact for evenly spread matches; a few matches far from the rest (customers
 * imported long after the others) thin out only their own end's sample.
 */
export function estimatedTotal(sample: MatchSample, limit: number): number {
  const matches = Number(sample.matches);
  const { firstMatchAt, frontEndAt, backStartAt, lastMatchAt } = sample;
  if (matches <= limit || firstMatchAt === null || frontEndAt === null || backStartAt === null || lastMatchAt === null) {
    return matches;
  }
  const [first, frontEnd, backStart, last] = [firstMatchAt, frontEndAt, backStartAt, lastMatchAt].map(Number);
  if (first === undefined || frontEnd === undefined || backStart === undefined || last === undefined) return matches;
  if (frontEnd >= backStart) {
    // The samples overlap: the back one tells how many lie past the front one.
    return last > backStart ? Math.round(matches + (limit * (last - frontEnd)) / (last - backStart)) : matches;
  }
  const densities = [limit / (frontEnd - first), limit / (last - backStart)].filter(Number.isFinite);
  if (densities.length === 0) return 2 * matches;
  const between = Math.max(0, (backStart - frontEnd) * Math.max(...densities) - 1);
  return Math.min(MAX_TOTAL_SIZE, Math.round(2 * matches + between));
}
