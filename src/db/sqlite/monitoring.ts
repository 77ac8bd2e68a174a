import { statSync } from "node:fs";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Database } from "./connection";

/** SQLite answers in microseconds to milliseconds; Prometheus' default buckets start at 5 ms. */
export const SQLITE_LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** Bytes on disk, 0 when the file does not exist (SQLite removes the WAL on a clean close). */
export function fileSizeBytes(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

export function walSizeBytes(database: Database): number {
  return fileSizeBytes(`${database.path}-wal`);
}

/**
 * Gauges read when Prometheus scrapes: file and WAL sizes, pages in use and
 * free, and how often queries reused a prepared statement. Nothing is polled
 * in between.
 */
export function registerDatabaseGauges(database: Database, registry: Registry): void {
  const registers = [registry];
  new Gauge({
    name: "db_file_size_bytes",
    help: "Size of the SQLite database file.",
    registers,
    collect() {
      this.set(fileSizeBytes(database.path));
    },
  });
  new Gauge({
    name: "db_wal_size_bytes",
    help: "Size of the SQLite write-ahead log; checkpoints truncate it.",
    registers,
    collect() {
      this.set(walSizeBytes(database));
    },
  });
  new Gauge({
    name: "db_page_count",
    help: "Pages in the database (PRAGMA page_count).",
    registers,
    collect() {
      setFromPragma(this, database, "page_count");
    },
  });
  new Gauge({
    name: "db_freelist_pages",
    help: "Unused pages in the database file (PRAGMA freelist_count).",
    registers,
    collect() {
      setFromPragma(this, database, "freelist_count");
    },
  });
  new Counter({
    name: "db_statement_cache_hits_total",
    help: "Queries that reused a prepared statement.",
    registers,
    collect() {
      setCounter(this, database.statementCacheStats().hits);
    },
  });
  new Counter({
    name: "db_statement_cache_misses_total",
    help: "Queries that had to prepare their SQL: new or evicted text, or the kept statement was still iterating.",
    registers,
    collect() {
      setCounter(this, database.statementCacheStats().misses);
    },
  });
}

/** The cache counts by itself; a scrape copies its total. */
function setCounter(counter: Counter, total: number): void {
  counter.reset();
  counter.inc(total);
}

/** After close, the last value stays: a scrape during shutdown must not fail. */
function setFromPragma(gauge: Gauge, database: Database, pragma: "page_count" | "freelist_count"): void {
  if (!database.sqlite.open) return;
  // The connection reads integers as bigint.
  gauge.set(Number(database.sqlite.pragma(pragma, { simple: true })));
}

/** HealthMonitor's onProbe: how long the database probe took and how it went. */
export function healthProbeRecorder(registry: Registry): (healthy: boolean, seconds: number) => void {
  const duration = new Histogram({
    name: "db_health_probe_duration_seconds",
    help: "Time the health probe took to reach the database.",
    buckets: SQLITE_LATENCY_BUCKETS,
    registers: [registry],
  });
  const up = new Gauge({
    name: "db_health_probe_up",
    help: "1 when the last health probe reached the database, else 0.",
    registers: [registry],
  });
  return (healthy, seconds) => {
    duration.observe(seconds);
    up.set(healthy ? 1 : 0);
  };
}
