/** How a SQLite store samples the matches of a filter for total_size (see total-size.ts). */
import { sql, type RawBuilder } from "kysely";
import type { Executor } from "../../db/transactions";
import type { CustomerFilter, CustomerOrder } from "../listing";
import { EXACT_COUNT_LIMIT, estimatedTotal, type MatchSample } from "../total-size";
import { everyRow, inOrder, matchingFilter } from "./sqlite-query";

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
