import type { Kysely } from "kysely";
import type { Database } from "./schema";

/**
 * Anything queries can run on: the database itself or an open transaction
 * (Kysely's Transaction is a Kysely). Stores take one and offer a copy bound
 * to a transaction, so several stores share one transaction.
 */
export type Executor = Kysely<Database>;

/**
 * How an engine runs a store's units of work. Each engine has its own
 * (src/db/sqlite/, src/db/postgres/): SQLite groups concurrent writes into one
 * commit and waits for another process's write lock between event-loop turns;
 * PostgreSQL retries serialization failures and deadlocks. Both hand errors
 * back as domain errors (src/errors.ts), never as driver errors. Called with
 * an executor that is already a transaction, each runs `work` in it.
 */
export interface Transactions {
  /** One write (a customer, an invoice), in a transaction of its own or shared with concurrent ones. */
  write<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T>;
  /**
   * One write of a single statement, atomic by itself: as write(), but an
   * engine may run it outside any transaction (PostgreSQL), saving BEGIN and
   * COMMIT. `work` gets the executor to run it on.
   */
  writeStatement<T>(executor: Executor, work: (executor: Executor) => Promise<T>): Promise<T>;
  /** Several writes, all or nothing, in one transaction of their own. */
  batch<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T>;
  /** Reads on one snapshot. */
  read<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T>;
  /**
   * Runs a store's statements on `executor`. Outside a transaction it
   * translates their errors; inside one they reach the unit of work as they
   * are, which decides by the driver's error what to run again (PostgreSQL's
   * serialization failures), then translates them itself.
   */
  run<T>(executor: Executor, work: () => Promise<T>): Promise<T>;
}
