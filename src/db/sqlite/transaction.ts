import { setTimeout } from "node:timers/promises";
import type { Executor } from "../transactions";
import { isBusy } from "./errors";

/** How long a write waits for another process's write lock before it fails (UNAVAILABLE). */
export const WRITE_LOCK_WAIT_MS = 5000;
/** How often a write waiting for that lock tries again. */
const WRITE_LOCK_RETRY_MS = 10;

/**
 * Runs `work` in a transaction: a new one, or the caller's when `executor` is
 * already a transaction (SQLite has no nested transactions; the outermost
 * one commits or rolls back everything). While another process holds the
 * write lock, the BEGIN is tried again until `giveUpAt`.
 */
export function inTransaction<T>(
  executor: Executor,
  work: (tx: Executor) => Promise<T>,
  giveUpAt = Date.now() + WRITE_LOCK_WAIT_MS,
): Promise<T> {
  if (executor.isTransaction) return work(executor);
  let began = false;
  const attempt = () =>
    executor.transaction().execute((tx) => {
      began = true;
      return work(tx);
    });
  return retryingWhileLocked(attempt, (error) => !began && isBusy(error), giveUpAt);
}

/**
 * Runs `attempt`, and again every WRITE_LOCK_RETRY_MS while it fails as
 * `retriable` says (another process holds the write lock), until `giveUpAt`.
 * It waits between turns of the event loop, holding no connection, so that
 * reads go on; SQLite's own busy wait would stall the whole process.
 */
export async function retryingWhileLocked<T>(
  attempt: () => Promise<T>,
  retriable: (error: unknown) => boolean,
  giveUpAt: number,
): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!retriable(error) || Date.now() >= giveUpAt) throw error;
      await setTimeout(WRITE_LOCK_RETRY_MS);
    }
  }
}

/**
 * Runs `work`, which only reads, on one snapshot of the database: a new
 * read-only transaction, which waits for no writer, or the caller's.
 */
export function inReadTransaction<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T> {
  if (executor.isTransaction) return work(executor);
  return executor.transaction().setAccessMode("read only").execute(work);
}
