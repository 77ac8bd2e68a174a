import type pg from "pg";
import type { OtherWrites } from "../other-writes";
import { oneBatchAtATime } from "./batches";

/** The snapshot a new transaction would take now: `xmin:xmax:running xids`. */
const CURRENT_SNAPSHOT = { name: "current_snapshot", text: "SELECT pg_current_snapshot()::text AS snapshot" };

/**
 * Tells, each call, whether any transaction committed since the previous
 * answer, by comparing the server's current snapshot with the one it gave
 * then. Two equal snapshots mean none did in between: a transaction that
 * commits either leaves the list of running ones or, if it started after the
 * first, moves xmax past itself. Every writer counts, this process and any
 * database of the cluster included, and so do aborts: the answer errs towards
 * "some", never towards "none".
 *
 * Asking is a round trip, so calls share one: a call waits for a snapshot
 * taken after it was made (it joins the question not yet sent, never the one
 * in flight), and one question is in flight at a time. As with SQLite's
 * data_version, one call per change hears "some"; a failed question is
 * "unknown" to the calls that waited for it.
 */
export function watchOtherWrites(pool: pg.Pool): () => Promise<OtherWrites> {
  return snapshotWatch(async () => {
    const { rows } = await pool.query<{ snapshot: string }>(CURRENT_SNAPSHOT);
    const snapshot = rows[0]?.snapshot;
    if (snapshot === undefined) throw new Error("pg_current_snapshot() answered no row");
    return snapshot;
  });
}

/** The sharing and comparing of watchOtherWrites, over any way to read the current snapshot. */
export function snapshotWatch(currentSnapshot: () => Promise<string>): () => Promise<OtherWrites> {
  let seen: string | undefined;
  const questions = oneBatchAtATime<"snapshot", string>(async (calls) => {
    const snapshot = await currentSnapshot();
    return calls.map(() => snapshot);
  }, Infinity);

  return async () => {
    let snapshot: string;
    try {
      snapshot = await questions.load("snapshot");
    } catch {
      return "unknown";
    }
    if (snapshot === seen) return "none";
    seen = snapshot;
    return "some";
  };
}
