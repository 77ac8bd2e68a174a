import type { Cursor } from "../listing";

/**
 * A page's rows, read from consecutive runs (each one index range an engine
 * can seek; see each engine's runsAfter) in turn, until there are `limit`.
 */
export async function readRuns<Run, R>(
  runs: readonly Run[],
  limit: number,
  readRun: (run: Run, limit: number) => Promise<R[]>,
): Promise<R[]> {
  const rows: R[] = [];
  for (const run of runs) {
    if (rows.length >= limit) break;
    rows.push(...(await readRun(run, limit - rows.length)));
  }
  return rows;
}

/**
 * Every row `readAfter` reads in customer_id order, `batchSize` at a time:
 * each batch one statement, for the rows past the last id read, so nothing
 * (no statement, transaction or pooled connection) is held between batches
 * while the consumer is slow. A row written meanwhile appears when it matches
 * and its id lies past the batches already read; none appears twice.
 */
export async function* inIdBatches<R extends { CustomerId: bigint }>(
  readAfter: (cursor: Cursor | undefined, limit: number) => Promise<R[]>,
  batchSize: number,
): AsyncGenerator<R> {
  let cursor: Cursor | undefined;
  for (;;) {
    const rows = await readAfter(cursor, batchSize);
    yield* rows;
    const last = rows.at(-1);
    if (rows.length < batchSize || last === undefined) return;
    cursor = { key: null, id: last.CustomerId };
  }
}
