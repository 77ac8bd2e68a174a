import { setTimeout as sleep } from "node:timers/promises";
import { AbortedError } from "../../errors";
import type { Executor, Transactions } from "../transactions";
import { isRetryable, translatePostgresError, translatingErrors } from "./errors";

export interface PostgresTransactionsOptions {
  /** How many times a unit of work runs at most before AbortedError. Default 5. */
  attempts?: number;
  /** The first retry waits up to this long (jittered), each later one up to twice as long. Default 5 ms. */
  backoffMs?: number;
  /** Told of each retry, e.g. for a metric or a debug log. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * PostgreSQL's units of work. Writes run at REPEATABLE READ: a
 * read-modify-write (read a customer, check its etag, write it back) whose row
 * another transaction changed meanwhile then fails with a serialization
 * failure (40001) instead of silently overwriting that change, as READ
 * COMMITTED would. Such failures, deadlocks (40P01) and a duplicate request_id
 * (a concurrent retry of the same request) run the whole unit of work again,
 * a few times, then give up with AbortedError. Reads see one snapshot.
 */
export function postgresTransactions(options: PostgresTransactionsOptions = {}): Transactions {
  const attempts = Math.max(1, options.attempts ?? 5);
  const backoffMs = options.backoffMs ?? 5;

  async function retrying<T>(executor: Executor, work: (tx: Executor) => Promise<T>): Promise<T> {
    if (executor.isTransaction) return translatingErrors(() => work(executor));
    for (let attempt = 1; ; attempt++) {
      try {
        return await executor.transaction().setIsolationLevel("repeatable read").execute(work);
      } catch (error) {
        if (!isRetryable(error)) throw translatePostgresError(error);
        if (attempt >= attempts) {
          throw new AbortedError("the transaction conflicted with another one; retry", { cause: error });
        }
        options.onRetry?.(error, attempt);
        await sleep(Math.random() * backoffMs * 2 ** (attempt - 1));
      }
    }
  }

  return {
    write: retrying,
    // Autocommitted at READ COMMITTED: a lone INSERT has nothing to serialize against.
    writeStatement: (executor, work) => (executor.isTransaction ? work(executor) : translatingErrors(() => work(executor))),
    batch: retrying,
    read: (executor, work) => {
      if (executor.isTransaction) return translatingErrors(() => work(executor));
      return translatingErrors(() =>
        executor.transaction().setIsolationLevel("repeatable read").setAccessMode("read only").execute(work),
      );
    },
    run: (executor, work) => (executor.isTransaction ? work() : translatingErrors(work)),
  };
}
