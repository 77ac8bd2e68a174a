import { AsyncResource } from "node:async_hooks";
import { sql } from "kysely";
import { Histogram, type Registry } from "prom-client";
import { outsideRequest } from "../../request-context";
import { isBusy } from "./errors";
import type { Executor } from "../transactions";
import { inTransaction, WRITE_LOCK_WAIT_MS } from "./transaction";

export interface GroupCommitOptions {
  /** Most writes one transaction carries. */
  maxBatch?: number;
  registry: Registry;
}

interface QueuedWrite {
  /** When it was queued (Date.now()): it waits for another process's lock WRITE_LOCK_WAIT_MS from then, at most. */
  queuedAt: number;
  /** Runs the write; remembers its result, or its error (and rethrows it), for `settle`. */
  run(tx: Executor): Promise<void>;
  /** Runs `step` (the write in its savepoint) in its caller's async context, not the group's. */
  inCallerContext(step: () => Promise<void>): Promise<void>;
  /** Hands the caller what `run` remembered, once the group has committed. */
  settle(): void;
  /** Rejects the caller: the group did not commit. */
  fail(error: unknown): void;
}

const DEFAULT_MAX_BATCH = 64;
const SAVEPOINT = sql.raw("SAVEPOINT group_item");
const RELEASE = sql.raw("RELEASE group_item");
const ROLLBACK_TO = sql.raw("ROLLBACK TO group_item");

/**
 * Group commit: writes that arrive while a transaction is running wait for it,
 * then all run in the next one, each inside its own savepoint, and commit
 * together. A commit (its WAL frames, one per page it dirtied) costs more
 * than most single-row writes, and a SQLite database has one writer anyway;
 * concurrent writers now share it. better-sqlite3 runs a transaction to its
 * end before the event loop reads the next request, so a group starts only
 * once the loop has handled the I/O at hand (setImmediate): the requests that
 * arrived together share it. No write waits for a timer.
 *
 * Each write sees the writes before it in its group, as if they had committed
 * just before it. One that fails is rolled back to its savepoint and rejects
 * alone; the others commit. A write resolves only once its group has
 * committed; if the commit itself fails, every write in the group rejects
 * with that error, and none of them took effect.
 *
 * Each write, its SAVEPOINT and RELEASE included, runs in its caller's async
 * context: its log lines name its own request, and its statements' spans
 * belong to its own call's trace. The group's BEGIN and COMMIT, shared by
 * several calls, run in none.
 */
export class GroupCommit {
  private readonly queue: QueuedWrite[] = [];
  /** A group is scheduled or running: writes queue for it, or for the next. */
  private committing = false;
  private readonly maxBatch: number;
  private readonly batchSizes: Histogram;

  constructor(
    private readonly db: Executor,
    options: GroupCommitOptions,
  ) {
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.batchSizes = new Histogram({
      name: "db_group_commit_writes",
      help: "Writes carried by each group-committed transaction.",
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers: [options.registry],
    });
  }

  /**
   * Runs `work` in a transaction shared with the writes queued beside it.
   * `work` must not wait for another write: that one would run in a later
   * group, which waits for this one.
   */
  run<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    const inCallerContext = AsyncResource.bind((step: () => Promise<void>) => step());
    return new Promise<T>((resolve, reject) => {
      let outcome = (): void => reject(new Error("a group-committed write never ran"));
      this.queue.push({
        queuedAt: Date.now(),
        inCallerContext,
        run: async (tx) => {
          try {
            const value = await work(tx);
            outcome = () => resolve(value);
          } catch (error) {
            outcome = () => reject(error);
            throw error;
          }
        },
        settle: () => outcome(),
        fail: reject,
      });
      if (!this.committing) {
        this.committing = true;
        setImmediate(() => outsideRequest(() => void this.commitQueued()));
      }
    });
  }

  private async commitQueued(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.commitGroup(this.queue.splice(0, this.maxBatch));
    } finally {
      this.committing = false;
    }
  }

  private async commitGroup(group: readonly QueuedWrite[]): Promise<void> {
    this.batchSizes.observe(group.length);
    // While another process holds the write lock, the group waits as long as its oldest write may.
    const giveUpAt = Math.min(...group.map((write) => write.queuedAt)) + WRITE_LOCK_WAIT_MS;
    try {
      await inTransaction(
        this.db,
        async (tx) => {
          for (const write of group) await write.inCallerContext(() => inSavepoint(tx, write));
        },
        giveUpAt,
      );
    } catch (error) {
      this.failOrRequeue(group, error, giveUpAt);
      return;
    }
    for (const write of group) write.settle();
  }

  /**
   * A group that gave up waiting for the lock (at its oldest write's limit)
   * fails only the writes that have waited their WRITE_LOCK_WAIT_MS; the
   * others go back to the head of the queue, in order, to wait out their own.
   * Any other error fails the whole group.
   */
  private failOrRequeue(group: readonly QueuedWrite[], error: unknown, giveUpAt: number): void {
    const now = Date.now();
    const gaveUp = isBusy(error) && now >= giveUpAt;
    const stillWaiting = gaveUp ? group.filter((write) => write.queuedAt + WRITE_LOCK_WAIT_MS > now) : [];
    for (const write of group) if (!stillWaiting.includes(write)) write.fail(error);
    this.queue.unshift(...stillWaiting);
  }
}

/**
 * A failed write rolls back only what it wrote. When SQLite has rolled the
 * whole transaction back itself (an I/O error, a full disk), the savepoint is
 * gone too, and the group fails with the write's error.
 */
async function inSavepoint(tx: Executor, write: QueuedWrite): Promise<void> {
  await SAVEPOINT.execute(tx);
  try {
    await write.run(tx);
  } catch (error) {
    await ROLLBACK_TO.execute(tx).catch(() => Promise.reject(error));
  }
  await RELEASE.execute(tx);
}

/**
 * Runs a write in the caller's transaction when `db` is one; else in a
 * group-committed transaction when there is a GroupCommit, or a new one.
 */
export function inWriteTransaction<T>(
  db: Executor,
  writes: GroupCommit | undefined,
  work: (tx: Executor) => Promise<T>,
): Promise<T> {
  return db.isTransaction || writes === undefined ? inTransaction(db, work) : writes.run(work);
}
