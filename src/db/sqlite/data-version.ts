import type BetterSqlite3 from "better-sqlite3";
import type { OtherWrites } from "../other-writes";

/**
 * Tells, each call, whether another connection (another process sharing the
 * file) committed since the previous call, from `PRAGMA data_version`, which
 * changes exactly then: this connection's own commits leave it as it is.
 * Within an open transaction it would answer for the transaction's snapshot,
 * and a closed handle answers nothing: "unknown" then.
 *
 * The pragma takes a WAL read lock (~2.6 µs), so one answer serves every call
 * until the microtask queue drains: whatever request reaches a call by then
 * arrived in the I/O callback that is still running, before the first call
 * asked, so any write acknowledged before it was sent is already counted.
 */
export function watchOtherWrites(sqlite: BetterSqlite3.Database): () => OtherWrites {
  const dataVersion = sqlite.prepare("PRAGMA data_version").pluck();
  let seen: unknown = dataVersion.get();
  let answered = false;
  const forget = () => {
    answered = false;
  };
  return () => {
    if (!sqlite.open || sqlite.inTransaction) return "unknown";
    if (answered) return "none";
    answered = true;
    queueMicrotask(forget);
    const now = dataVersion.get();
    if (now === seen) return "none";
    seen = now;
    return "some";
  };
}
