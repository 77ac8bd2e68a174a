import type { Kysely } from "kysely";
import type { Database } from "./schema";

/**
 * Anything queries can run on: the database itself or an open transaction
 * (Kysely's Transaction is a Kysely). Repositories take one in their
 * constructor and offer `withTx(tx)` returning a copy bound to a transaction,
 * so several repositories share one transaction and roll back together:
 *
 *   await inTransaction(db, async (tx) => {
 *     const customer = await customers.withTx(tx).get(id);
 *     await invoices.withTx(tx).create(...);
 *   });
 */
export type Executor = Kysely<Database>;

/**
 * Runs `work` in a transaction: a new one, or the caller's when `executor` is
 * already a transaction (SQLite has no nested transactions; the outermost
 * one commits or rolls back everything).
 */
export function inTransaction<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T> {
  if (executor.isTransaction) return work(executor);
  return executor.transaction().execute(work);
}

/**
 * Runs `work`, which only reads, on one snapshot of the database: a new
 * read-only transaction, which waits for no writer, or the caller's.
 */
export function inReadTransaction<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T> {
  if (executor.isTransaction) return work(executor);
  return executor.transaction().setAccessMode("read only").execute(work);
}
