import { Counter, Histogram, type Registry } from "prom-client";
import type { Logger } from "../../logger";
import type { Database } from "./connection";
import { SQLITE_LATENCY_BUCKETS, walSizeBytes } from "./monitoring";
import { expireRequestIds } from "../request-ids";
import { isBusy } from "./errors";

export interface MaintenanceOptions {
  database: Database;
  logger: Logger;
  registry: Registry;
  /** Checkpoint (and truncate) the WAL once it is larger than this. */
  walCheckpointBytes: number;
  /** How often the WAL size, and whether optimize is due, are checked. */
  checkIntervalMs: number;
  /** How often PRAGMA optimize runs, at the first idle check once due. */
  optimizeIntervalMs: number;
  /** Idempotency keys older than this are forgotten, a batch at each idle check. */
  requestIdRetentionMs: number;
  /** True while no call that uses the database is in flight: maintenance never competes with clients. */
  isIdle: () => boolean;
}

type CheckpointResult = "complete" | "busy" | "error";

/** Keys forgotten per check at most: one short write, however many have expired. */
const EXPIRED_REQUEST_IDS_PER_CHECK = 1000;

/**
 * Keeps SQLite tidy while serving: truncates a WAL grown past its threshold,
 * refreshes planner statistics periodically and forgets expired idempotency
 * keys, all only when idle; the first two once more at shutdown.
 */
export class DatabaseMaintenance {
  private timer: NodeJS.Timeout | undefined;
  // The app optimizes once right after migrating.
  private lastOptimized = Date.now();
  private readonly checkpoints: Counter<"result">;
  private readonly optimizations: Counter<"result">;
  private readonly duration: Histogram<"task">;
  private readonly expiredRequestIds: Counter;
  private expiring: Promise<number> | undefined;

  constructor(private readonly options: MaintenanceOptions) {
    const registers = [options.registry];
    this.checkpoints = new Counter({
      name: "db_wal_checkpoints_total",
      help: "WAL checkpoints run (TRUNCATE), by result: complete, busy (readers kept it from finishing) or error.",
      labelNames: ["result"],
      registers,
    });
    this.optimizations = new Counter({
      name: "db_optimize_runs_total",
      help: "PRAGMA optimize runs, by result: ok, busy (deferred: another process held the write lock) or error.",
      labelNames: ["result"],
      registers,
    });
    this.expiredRequestIds = new Counter({
      name: "db_request_ids_expired_total",
      help: "Idempotency keys (request_id) forgotten after REQUEST_ID_RETENTION_MS.",
      registers,
    });
    this.duration = new Histogram({
      name: "db_maintenance_duration_seconds",
      help: "Time a maintenance task held the database, by task: wal_checkpoint or optimize.",
      labelNames: ["task"],
      buckets: SQLITE_LATENCY_BUCKETS,
      registers,
    });
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  /** One check: when idle, optimize if due, checkpoint a WAL past its threshold, expire old keys. */
  tick(): void {
    if (!this.options.isIdle() || !this.connectionFree()) return;
    if (Date.now() - this.lastOptimized >= this.options.optimizeIntervalMs) this.optimize();
    if (walSizeBytes(this.options.database) > this.options.walCheckpointBytes) this.checkpoint();
    void this.expireRequestIds();
  }

  /**
   * Forgets up to a batch of idempotency keys past their retention; how many.
   * One run at a time; a failure (another process's lock) waits for the next check.
   */
  expireRequestIds(): Promise<number> {
    this.expiring ??= this.runExpiry().finally(() => {
      this.expiring = undefined;
    });
    return this.expiring;
  }

  private async runExpiry(): Promise<number> {
    const before = new Date(Date.now() - this.options.requestIdRetentionMs);
    try {
      const expired = await expireRequestIds(this.options.database.db, before, EXPIRED_REQUEST_IDS_PER_CHECK);
      this.expiredRequestIds.inc(expired);
      return expired;
    } catch (error) {
      this.options.logger.warn({ err: error }, "expiring request ids failed; the next check tries again");
      return 0;
    }
  }

  /**
   * At shutdown, before the database closes: lets an expiry under way finish,
   * then fresh statistics and an empty WAL for the next start.
   */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.expiring;
    if (!this.connectionFree()) return;
    this.optimize();
    this.checkpoint();
  }

  /**
   * Pragmas run on the one connection Kysely also uses: inside a transaction a
   * handler left open (a cancelled call still finishing), they would join it.
   */
  private connectionFree(): boolean {
    const { sqlite } = this.options.database;
    return sqlite.open && !sqlite.inTransaction;
  }

  /**
   * PRAGMA optimize now (the app runs it once at start-up, after migrating).
   * While another process holds the write lock it is deferred to the next
   * check rather than waited for.
   */
  optimize(): void {
    this.lastOptimized = Date.now();
    try {
      this.timed("optimize", () => this.options.database.optimize());
      this.optimizations.inc({ result: "ok" });
    } catch (error) {
      if (isBusy(error)) {
        this.lastOptimized = 0;
        this.optimizations.inc({ result: "busy" });
        this.options.logger.warn("PRAGMA optimize deferred: another process holds the write lock");
        return;
      }
      this.optimizations.inc({ result: "error" });
      this.options.logger.error({ err: error }, "PRAGMA optimize failed");
    }
  }

  private checkpoint(): void {
    const walBytesBefore = walSizeBytes(this.options.database);
    const result = this.timed("wal_checkpoint", () => this.runCheckpoint());
    this.checkpoints.inc({ result });
    const walBytesAfter = walSizeBytes(this.options.database);
    this.options.logger.info(
      { wal_bytes_before: walBytesBefore, wal_bytes_after: walBytesAfter, result },
      `WAL checkpoint: ${result}`,
    );
  }

  /**
   * TRUNCATE waits, through the busy timeout, for every reader to leave the
   * WAL, and better-sqlite3 waits synchronously: another process's long read
   * (a backup, a sqlite3 shell) would freeze the event loop. Without the
   * timeout it writes back what the readers allow and reports busy; a later
   * check does the rest.
   */
  private runCheckpoint(): CheckpointResult {
    const { sqlite } = this.options.database;
    const busyTimeout = Number(sqlite.pragma("busy_timeout", { simple: true }));
    try {
      sqlite.pragma("busy_timeout = 0");
      const rows: unknown = sqlite.pragma("wal_checkpoint(TRUNCATE)");
      return checkpointWasBusy(rows) ? "busy" : "complete";
    } catch (error) {
      this.options.logger.error({ err: error }, "WAL checkpoint failed");
      return "error";
    } finally {
      sqlite.pragma(`busy_timeout = ${busyTimeout}`);
    }
  }

  private timed<T>(task: string, work: () => T): T {
    const stopTimer = this.duration.startTimer({ task });
    try {
      return work();
    } finally {
      stopTimer();
    }
  }
}

/** PRAGMA wal_checkpoint answers one row: busy is 1 when readers kept it from finishing. */
function checkpointWasBusy(rows: unknown): boolean {
  const [row] = Array.isArray(rows) ? rows : [];
  const busy: unknown = typeof row === "object" && row !== null ? Reflect.get(row, "busy") : 0;
  return Number(busy) !== 0;
}
