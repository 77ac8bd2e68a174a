import { Gauge, type Registry } from "prom-client";
import type { PostgresDatabase } from "./connection";

/** The pool's connections, read when Prometheus scrapes: in use, idle, and callers waiting for one. */
export function registerPoolGauges(database: PostgresDatabase, registry: Registry): void {
  const { pool } = database;
  const gauges = [
    ["db_pool_connections_in_use", "Pooled PostgreSQL connections running a query or a transaction.", () => pool.totalCount - pool.idleCount],
    ["db_pool_connections_idle", "Pooled PostgreSQL connections open and idle.", () => pool.idleCount],
    ["db_pool_waiting", "Callers waiting for a pooled PostgreSQL connection.", () => pool.waitingCount],
  ] as const;
  for (const [name, help, read] of gauges) {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  }
}
