import { Counter, type Registry } from "prom-client";
import { AbortedError, UnavailableError, type UnavailableReason } from "../errors";
import type { Executor, Transactions } from "./transactions";

/** Why the database refused a write: what UNAVAILABLE says, or a conflict retried until ABORTED (PostgreSQL). */
export type WriteFailureCause = UnavailableReason | "conflict";

const CAUSES: readonly WriteFailureCause[] = [
  "disk_full",
  "out_of_memory",
  "io",
  "read_only",
  "locked",
  "timeout",
  "connection",
  "conflict",
  "other",
];

/**
 * `transactions` counting, in db_write_failures_total, each write and batch
 * the database refused, by cause: once per unit of work (a write inside a
 * batch is the batch's), never a read, nor a domain error such as a
 * duplicate, which is the client's. Every cause starts at 0, so that a rate
 * or an alert sees its first failure.
 */
export function countingWriteFailures(transactions: Transactions, registry: Registry): Transactions {
  const failures = new Counter({
    name: "db_write_failures_total",
    help: "Writes the database refused (UNAVAILABLE, or ABORTED after retries), by cause.",
    labelNames: ["cause"],
    registers: [registry],
  });
  for (const cause of CAUSES) failures.inc({ cause }, 0);

  async function counted<T>(executor: Executor, unit: () => Promise<T>): Promise<T> {
    try {
      return await unit();
    } catch (error) {
      const cause = executor.isTransaction ? undefined : writeFailureCause(error);
      if (cause !== undefined) failures.inc({ cause });
      throw error;
    }
  }

  return {
    write: (executor, work) => counted(executor, () => transactions.write(executor, work)),
    writeStatement: (executor, work) => counted(executor, () => transactions.writeStatement(executor, work)),
    batch: (executor, work) => counted(executor, () => transactions.batch(executor, work)),
    read: (executor, work) => transactions.read(executor, work),
    run: (executor, work) => transactions.run(executor, work),
  };
}

function writeFailureCause(error: unknown): WriteFailureCause | undefined {
  if (error instanceof UnavailableError) return error.reason;
  if (error instanceof AbortedError) return "conflict";
  return undefined;
}
