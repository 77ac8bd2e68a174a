import type { Transactions } from "../transactions";
import { translatingErrors } from "./errors";
import { inWriteTransaction, type GroupCommit } from "./group-commit";
import { inReadTransaction, inTransaction } from "./transaction";

/**
 * SQLite's units of work: single writes share group-committed transactions
 * (when `writes` is given), and every transaction waits for another process's
 * write lock between event-loop turns (inTransaction).
 */
export function sqliteTransactions(writes?: GroupCommit): Transactions {
  return {
    write: (executor, work) => translatingErrors(() => inWriteTransaction(executor, writes, work)),
    // Committed with the concurrent writes of the same turn (group commit), like any write.
    writeStatement: (executor, work) => translatingErrors(() => inWriteTransaction(executor, writes, work)),
    batch: (executor, work) => translatingErrors(() => inTransaction(executor, work)),
    read: (executor, work) => translatingErrors(() => inReadTransaction(executor, work)),
    run: (executor, work) => (executor.isTransaction ? work() : translatingErrors(work)),
  };
}
