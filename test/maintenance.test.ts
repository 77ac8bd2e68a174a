import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { DatabaseMaintenance, type MaintenanceOptions } from "../src/db/sqlite/maintenance";
import { walSizeBytes } from "../src/db/sqlite/monitoring";
import { inTransaction } from "../src/db/sqlite/transaction";
import { createLogger } from "../src/logger";
import { eventually } from "./support/eventually";
import { freshDatabase, type TestDatabase } from "./support/database";
import { parseSamples, registryValue, sampleValue } from "./support/prometheus";
import { sqliteDatabaseOf, startTestServer } from "./support/server";

const silentLogger = createLogger({
  level: "info",
  destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
});

function growWal(database: TestDatabase): void {
  database.sqlite.exec("UPDATE customers SET Company = coalesce(Company, '') || 'x'");
}

describe("DatabaseMaintenance", () => {
  let database: TestDatabase;
  let registry: Registry;
  let idle: boolean;

  function maintenance(overrides: Partial<MaintenanceOptions> = {}): DatabaseMaintenance {
    return new DatabaseMaintenance({
      database,
      logger: silentLogger,
      registry,
      walCheckpointBytes: 0,
      checkIntervalMs: 60_000,
      optimizeIntervalMs: 3_600_000,
      requestIdRetentionMs: 86_400_000,
      isIdle: () => idle,
      ...overrides,
    });
  }

  beforeEach(async () => {
    database = await freshDatabase();
    registry = new Registry();
    idle = true;
  });

  afterEach(async () => {
    await database.dispose();
  });

  it("truncates a WAL past its threshold when idle", async () => {
    growWal(database);
    expect(walSizeBytes(database)).toBeGreaterThan(0);

    maintenance().tick();

    expect(walSizeBytes(database)).toBe(0);
    expect(await registryValue(registry, "db_wal_checkpoints_total", { result: "complete" })).toBe(1);
  });

  it("leaves a WAL under its threshold alone", async () => {
    growWal(database);

    maintenance({ walCheckpointBytes: walSizeBytes(database) }).tick();

    expect(walSizeBytes(database)).toBeGreaterThan(0);
    expect(await registryValue(registry, "db_wal_checkpoints_total", { result: "complete" })).toBe(0);
  });

  it("waits while calls are in flight", async () => {
    growWal(database);
    idle = false;

    maintenance({ optimizeIntervalMs: 0 }).tick();

    expect(walSizeBytes(database)).toBeGreaterThan(0);
    expect(await registryValue(registry, "db_wal_checkpoints_total", { result: "complete" })).toBe(0);
    expect(await registryValue(registry, "db_optimize_runs_total", { result: "ok" })).toBe(0);
  });

  it("never runs inside a transaction left open on the shared connection", async () => {
    growWal(database);
    const upkeep = maintenance({ optimizeIntervalMs: 0 });

    await inTransaction(database.db, async (tx) => {
      await tx.selectFrom("customers").select("CustomerId").limit(1).execute();
      upkeep.tick();
    });

    expect(await registryValue(registry, "db_wal_checkpoints_total", { result: "complete" })).toBe(0);
    expect(await registryValue(registry, "db_optimize_runs_total", { result: "ok" })).toBe(0);
  });

  it("checkpoints what another process's reader allows instead of waiting for it, and keeps the busy timeout", async () => {
    const busyTimeout = 2000;
    database.sqlite.pragma(`busy_timeout = ${busyTimeout}`);
    growWal(database);
    const upkeep = maintenance();
    const pragmas = jest.spyOn(database.sqlite, "pragma");
    const reader = new SqliteDatabase(database.path);
    try {
      reader.exec("BEGIN");
      reader.prepare("SELECT count(*) FROM customers").get();
      growWal(database);

      upkeep.tick();

      // Waiting through the busy timeout would hold the (synchronous) event loop for as long as the reader reads.
      const sources = pragmas.mock.calls.map(([source]) => source);
      const checkpointAt = sources.indexOf("wal_checkpoint(TRUNCATE)");
      expect(checkpointAt).toBeGreaterThan(0);
      expect(sources[checkpointAt - 1]).toBe("busy_timeout = 0");
      expect(await registryValue(registry, "db_wal_checkpoints_total", { result: "busy" })).toBe(1);
      expect(walSizeBytes(database)).toBeGreaterThan(0);
      expect(Number(database.sqlite.pragma("busy_timeout", { simple: true }))).toBe(busyTimeout);
    } finally {
      reader.close();
      pragmas.mockRestore();
    }
    upkeep.tick();
    expect(walSizeBytes(database)).toBe(0);
  });

  it("forgets idempotency keys past their retention, oldest first, a batch at a time", async () => {
    const record = database.sqlite.prepare(
      "INSERT INTO request_ids (operation, request_id, request_hash, resource_id, created_at) VALUES ('op', ?, 'h', 1, ?)",
    );
    const longAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    for (let i = 0; i < 1500; i++) record.run(`old-${i}`, longAgo(120 + i));
    record.run("recent", longAgo(30));
    const upkeep = maintenance({ requestIdRetentionMs: 3_600_000 });

    expect(await upkeep.expireRequestIds()).toBe(1000);
    expect(await upkeep.expireRequestIds()).toBe(500);
    expect(await upkeep.expireRequestIds()).toBe(0);

    const left = database.sqlite.prepare("SELECT request_id FROM request_ids WHERE operation = 'op'").pluck().all();
    expect(left).toEqual(["recent"]);
    expect(await registryValue(registry, "db_request_ids_expired_total")).toBe(1500);
  });

  it("defers an optimize that meets another process's write lock to the next check, not to the next interval", async () => {
    const upkeep = maintenance({ optimizeIntervalMs: 3_600_000, walCheckpointBytes: Number.MAX_SAFE_INTEGER });
    const other = new SqliteDatabase(database.path);
    try {
      other.exec("BEGIN IMMEDIATE");
      upkeep.optimize();
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    expect(await registryValue(registry, "db_optimize_runs_total", { result: "busy" })).toBe(1);

    upkeep.tick();

    expect(await registryValue(registry, "db_optimize_runs_total", { result: "ok" })).toBe(1);
  });

  it("runs PRAGMA optimize once due", async () => {
    maintenance({ optimizeIntervalMs: 0, walCheckpointBytes: Number.MAX_SAFE_INTEGER }).tick();

    expect(await registryValue(registry, "db_optimize_runs_total", { result: "ok" })).toBe(1);
  });

  it("optimizes and checkpoints once more when stopped", async () => {
    const upkeep = maintenance({ walCheckpointBytes: Number.MAX_SAFE_INTEGER });
    upkeep.start();
    growWal(database);

    await upkeep.stop();

    expect(walSizeBytes(database)).toBe(0);
    expect(await registryValue(registry, "db_optimize_runs_total", { result: "ok" })).toBe(1);
    expect(await registryValue(registry, "db_wal_checkpoints_total", { result: "complete" })).toBe(1);
  });
});

describe("maintenance in the running service", () => {
  it("checkpoints the WAL and optimizes on its timer once writes have grown it", async () => {
    const server = await startTestServer({
      METRICS_ADDR: "127.0.0.1:0",
      WAL_CHECKPOINT_BYTES: "1",
      WAL_CHECK_INTERVAL_MS: "100",
      OPTIMIZE_INTERVAL_MS: "100",
    });
    try {
      const client = server.client(CustomerService);
      for (let i = 0; i < 20; i += 1) {
        await client.createCustomer({ customer: { firstName: "Wal", lastName: "Growth", email: `${randomUUID()}@example.com` } });
      }
      const scrape = async () => parseSamples(await server.scrapeMetrics());

      await eventually(async () => {
        const samples = await scrape();
        return (
          sampleValue(samples, "db_wal_checkpoints_total", { result: "complete" }) > 0 &&
          sampleValue(samples, "db_optimize_runs_total", { result: "ok" }) > 0 &&
          walSizeBytes(sqliteDatabaseOf(server.app)) === 0
        );
      });
      const samples = await scrape();
      expect(sampleValue(samples, "db_maintenance_duration_seconds_count", { task: "wal_checkpoint" })).toBeGreaterThan(0);
      expect(server.logs).toContainEqual(expect.objectContaining({ msg: "WAL checkpoint: complete", wal_bytes_after: 0 }));
    } finally {
      await server.stop();
    }
  });

  it("checkpoints at shutdown even below the threshold", async () => {
    const server = await startTestServer();
    await server.client(CustomerService).createCustomer({
      customer: { firstName: "Shut", lastName: "Down", email: `${randomUUID()}@example.com` },
    });

    await server.stop();

    expect(server.logs).toContainEqual(
      expect.objectContaining({ msg: "WAL checkpoint: complete", wal_bytes_before: expect.any(Number), wal_bytes_after: 0 }),
    );
  });
});
