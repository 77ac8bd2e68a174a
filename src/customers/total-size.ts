/**
 * ListCustomers' total_size: exact up to EXACT_COUNT_LIMIT matches, estimated
 * past it from how densely the first and last matches lie, so that a first
 * page never counts a million index entries.
 */
import { sql, type RawBuilder } from "kysely";
import { MAX_TOTAL_SIZE } from "../db/paging";
import type { Executor } from "../db/transactions";
import { everyRow, inOrder, matchingFilter, type CustomerFilter, type CustomerOrder } from "./query";

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

/** Where matches lie along a sampling axis. */
type MatchPositions = Omit<MatchSample, "matches">;

/**
 * What total_size's estimate measures how densely matches lie along. Ids,
 * through whichever index the filter walks in id order; but a creation-time
 * window picks customers created together, which an id-ordered walk would
 * reach only after every customer created before them: along time, then,
 * through the created_at index.
 */
interface SamplingAxis {
  field: "customer_id" | "create_time";
  position: RawBuilder<number | bigint>;
}

const ID_AXIS: SamplingAxis = { field: "customer_id", position: sql<bigint>`"CustomerId"` };
const CREATION_AXIS: SamplingAxis = { field: "create_time", position: sql<number>`unixepoch("created_at", 'subsec')` };

/** How many customers match `filter`: exact up to EXACT_COUNT_LIMIT, estimated past it. */
export async function estimatedCount(db: Executor, filter: CustomerFilter): Promise<number> {
  const matches = await boundedCount(db, filter);
  if (matches <= EXACT_COUNT_LIMIT) return matches;
  const axis = samplingAxis(filter);
  let positions = await matchPositions(db, filter, axis);
  // Customers imported with one creation time have no spread along time to measure.
  if (axis !== ID_AXIS && !spreadAtBothEnds(positions)) positions = await matchPositions(db, filter, ID_AXIS);
  return estimatedTotal({ matches: BigInt(matches), ...positions }, EXACT_COUNT_LIMIT);
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

function samplingAxis(filter: CustomerFilter): SamplingAxis {
  return filter.createdAfter === undefined && filter.createdBefore === undefined ? ID_AXIS : CREATION_AXIS;
}

/** At most EXACT_COUNT_LIMIT + 1, read along whichever index suits the filter best. */
async function boundedCount(db: Executor, filter: CustomerFilter): Promise<number> {
  const firstMatches = db
    .selectFrom("customers")
    .select(sql.lit(1).as("one"))
    .where((eb) => matchingFilter(eb, filter))
    .limit(EXACT_COUNT_LIMIT + 1);
  const { matches } = await db
    .selectFrom(firstMatches.as("first_matches"))
    .select((eb) => eb.fn.countAll<bigint>().as("matches"))
    .executeTakeFirstOrThrow();
  return Number(matches);
}

/** Where the first and last matches lie, and those EXACT_COUNT_LIMIT places inwards from them, in one statement. */
function matchPositions(db: Executor, filter: CustomerFilter, axis: SamplingAxis): Promise<MatchPositions> {
  return db
    .selectNoFrom([
      matchPositionAt(db, filter, axis, false, 0).as("firstMatchAt"),
      matchPositionAt(db, filter, axis, false, EXACT_COUNT_LIMIT).as("frontEndAt"),
      matchPositionAt(db, filter, axis, true, EXACT_COUNT_LIMIT).as("backStartAt"),
      matchPositionAt(db, filter, axis, true, 0).as("lastMatchAt"),
    ])
    .executeTakeFirstOrThrow();
}

/** Where along `axis` the match `offset` places from the first (or last) one lies, walked through an index. */
function matchPositionAt(db: Executor, filter: CustomerFilter, axis: SamplingAxis, fromLast: boolean, offset: number) {
  const order: CustomerOrder = { field: axis.field, descending: fromLast };
  const matching = db
    .selectFrom("customers")
    .where((eb) => matchingFilter(eb, filter))
    .where(everyRow(order));
  return inOrder(matching, order).select(axis.position.as("position")).limit(1).offset(offset);
}

function spreadAtBothEnds({ firstMatchAt, frontEndAt, backStartAt, lastMatchAt }: MatchPositions): boolean {
  return Number(frontEndAt) > Number(firstMatchAt) && Number(lastMatchAt) > Number(backStartAt);
}
