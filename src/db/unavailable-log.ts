import type { UnavailableError, UnavailableReason } from "../errors";
import type { Logger } from "../logger";

const DEFAULT_INTERVAL_MS = 60_000;
/** Reasons that clear by themselves (another process's lock): a warning, not an error. */
const TRANSIENT_REASONS: ReadonlySet<UnavailableReason> = new Set(["locked"]);

export interface UnavailableLogOptions {
  /** The least time between two lines for one reason. Default a minute. */
  intervalMs?: number;
  now?: () => number;
}

interface LastLine {
  at: number;
  /** Calls that failed for the same reason since, without a line of their own. */
  suppressed: number;
}

/**
 * Why the database could not serve calls: one line when a reason (a full
 * disk, an I/O error) starts, then at most one per interval for that reason,
 * saying how many failures it held back since the line before. A full disk
 * fails every write, and a line per call would flood the log. A line carries
 * the reason and the driver's code, never the driver's message, which may
 * name files (PostgreSQL's "could not extend file …"), SQL or values.
 */
export class UnavailableLog {
  private readonly lastLines = new Map<UnavailableReason, LastLine>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly logger: Logger,
    options: UnavailableLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  record(error: UnavailableError, method: string, requestId: string | undefined): void {
    const now = this.now();
    const last = this.lastLines.get(error.reason);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      return;
    }
    this.lastLines.set(error.reason, { at: now, suppressed: 0 });
    const level = TRANSIENT_REASONS.has(error.reason) ? "warn" : "error";
    const fields = { reason: error.reason, error_code: driverCode(error.cause), method, request_id: requestId, suppressed: last?.suppressed ?? 0 };
    this.logger[level](fields, "database unavailable");
  }
}

/** SQLite's result code (SQLITE_FULL), PostgreSQL's SQLSTATE (53100) or Node's (ECONNREFUSED): a fixed set. */
function driverCode(cause: unknown): string | undefined {
  if (typeof cause !== "object" || cause === null || !("code" in cause)) return undefined;
  return typeof cause.code === "string" ? cause.code : undefined;
}
