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
