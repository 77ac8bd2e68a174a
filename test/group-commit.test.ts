import { setTimeout as sleep } from "node:timers/promises";
import { sql } from "kysely";
import { Registry } from "prom-client";
import { SqliteDatabase } from "../src/db/sqlite/driver";
import { GroupCommit, inWriteTransaction } from "../src/db/sqlite/group-commit";
import { inTransaction, WRITE_LOCK_WAIT_MS } from "../src/db/sqlite/transaction";
import type { Executor } from "../src/db/transactions";
import { currentRequest, runInRequest } from "../src/request-context";
import { freshDatabase, type TestDatabase } from "./support/database";
import { parseSamples, sampleValue } from "./support/prometheus";

let database: TestDatabase;
let registry: Registry;
let writes: GroupCommit;

beforeEach(async () => {
  database = await freshDatabase();
  database.sqlite.exec(`
    CREATE TABLE parent (id INTEGER PRIMARY KEY);
    CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
  `);
  registry = new Registry();
  writes = new GroupCommit(database.db, { registry });
});

afterEach(async () => {
  await database.dispose();
});

function addPlaylist(name: string): (tx: Executor) => Promise<bigint> {
  return async (tx) => {
    const { insertId } = await sql`INSERT INTO playlists (Name) VALUES (${name})`.execute(tx);
    if (insertId === undefined) throw new Error("no id");
    return insertId;
  };
}

function playlistNames(): string[] {
  const rows = database.sqlite.prepare("SELECT Name FROM playlists WHERE Name LIKE 'group %' ORDER BY PlaylistId").all();
  return rows.map((row) => (row as { Name: string }).Name);
}

async function groupSizes(): Promise<{ groups: number; writes: number }> {
  const samples = parseSamples(await registry.metrics());
  return {
    groups: sampleValue(samples, "db_group_commit_writes_count"),
    writes: sampleValue(samples, "db_group_commit_writes_sum"),
  };
}

describe("GroupCommit", () => {
  it("runs the writes queued in one turn of the event loop in one transaction, in order", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `group ${i}`);
    const ids = await Promise.all(names.map((name) => writes.run(addPlaylist(name))));
    expect(new Set(ids).size).toBe(10);
    expect(playlistNames()).toEqual(names);
    expect(await groupSizes()).toEqual({ groups: 1, writes: 10 });
  });

  it("runs a write queued while a group runs in the next group", async () => {
    let later: Promise<bigint> | undefined;
    await Promise.all([
      writes.run(async (tx) => {
        later = writes.run(addPlaylist("group later"));
        return addPlaylist("group first")(tx);
      }),
      writes.run(addPlaylist("group second")),
    ]);
    await later;
    expect(playlistNames()).toEqual(["group first", "group second", "group later"]);
    expect(await groupSizes()).toEqual({ groups: 2, writes: 3 });
  });

  it("lets each write see the writes before it in its group", async () => {
    const [first, a, b] = [
      writes.run(addPlaylist("group first")),
      writes.run(addPlaylist("group a")),
      writes.run(async (tx) => count(tx)),
    ];
    await first;
    await a;
    expect(await b).toBe(2n);
    expect(await groupSizes()).toEqual({ groups: 1, writes: 3 });
  });

  it("rolls back a failing write alone; the others in its group commit", async () => {
    const failing = writes.run(async (tx) => {
      await addPlaylist("group failed")(tx);
      throw new Error("changed my mind");
    });
    const results = await Promise.allSettled([
      writes.run(addPlaylist("group 1")),
      writes.run(addPlaylist("group 2")),
      failing,
      writes.run(addPlaylist("group 3")),
    ]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    await expect(failing).rejects.toThrow("changed my mind");
    expect(playlistNames()).toEqual(["group 1", "group 2", "group 3"]);
  });

  it("fails every write of a group whose commit fails, and keeps none of them", async () => {
    await writes.run(addPlaylist("group lone"));
    const results = await Promise.allSettled([
      writes.run(addPlaylist("group 1")),
      // Checked only at COMMIT: the whole group's commit fails.
      writes.run(async (tx) => sql`INSERT INTO child (parent_id) VALUES (42)`.execute(tx)),
      writes.run(addPlaylist("group 2")),
    ]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected", "rejected"]);
    for (const result of results) {
      if (result.status === "rejected") expect(String(result.reason)).toMatch(/FOREIGN KEY/);
    }
    expect(playlistNames()).toEqual(["group lone"]);
    // The next group runs as usual.
    await writes.run(addPlaylist("group after"));
    expect(playlistNames()).toEqual(["group lone", "group after"]);
  });

  it("fails the whole group with a write's own error when SQLite has ended the transaction under it", async () => {
    const cause = new Error("the disk is full");
    const results = await Promise.allSettled([
      writes.run(addPlaylist("group before")),
      writes.run(async (tx) => {
        // What SQLite does by itself on an I/O error or a full disk: the transaction, savepoints and all, is gone.
        await sql`ROLLBACK`.execute(tx);
        throw cause;
      }),
      writes.run(addPlaylist("group after")),
    ]);

    expect(results).toEqual([
      { status: "rejected", reason: cause },
      { status: "rejected", reason: cause },
      { status: "rejected", reason: cause },
    ]);
    expect(playlistNames()).toEqual([]);
    expect(database.sqlite.inTransaction).toBe(false);
  });

  it("gives each write of a group waiting for another process's lock its own time: the late one waits on", async () => {
    const clock = jest.spyOn(Date, "now");
    const other = new SqliteDatabase(database.path);
    try {
      other.exec("BEGIN IMMEDIATE");
      const start = 1_000_000;
      clock.mockReturnValue(start);
      const early = writes.run(addPlaylist("group early"));
      clock.mockReturnValue(start + 4_000);
      const late = writes.run(addPlaylist("group late")); // same group, queued 4 s later
      const earlyOutcome = early.then(() => "committed", (error: unknown) => error);
      await sleep(50); // the group tries for the lock, in vain

      clock.mockReturnValue(start + WRITE_LOCK_WAIT_MS);

      expect(await earlyOutcome).toMatchObject({ code: "SQLITE_BUSY" });
      other.exec("COMMIT");
      await expect(late).resolves.toEqual(expect.any(BigInt));
      expect(playlistNames()).toEqual(["group late"]);
    } finally {
      clock.mockRestore();
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });

  it("runs each write in its caller's async context, so its log lines name its own request", async () => {
    const seen: Array<[string, string | undefined]> = [];
    const write = (requestId: string) =>
      runInRequest({ requestId }, () =>
        writes.run(async (tx) => {
          seen.push([requestId, currentRequest()?.requestId]);
          await addPlaylist(`group ${requestId}`)(tx);
          seen.push([requestId, currentRequest()?.requestId]);
        }),
      );
    await Promise.all(["a", "b", "c"].map(write));
    expect(seen).toEqual(["a", "a", "b", "b", "c", "c"].map((id) => [id, id]));
    expect((await groupSizes()).groups).toBe(1);
  });

  it("runs in the caller's transaction when given one, without queueing", async () => {
    await inTransaction(database.db, async (tx) => {
      await inWriteTransaction(tx, writes, addPlaylist("group inner"));
      expect(await count(tx)).toBe(1n);
    });
    expect(playlistNames()).toEqual(["group inner"]);
    expect((await groupSizes()).groups).toBe(0);
  });
});

async function count(tx: Executor): Promise<bigint | undefined> {
  const { rows } = await sql<{ n: bigint }>`SELECT count(*) AS n FROM playlists WHERE Name LIKE 'group %'`.execute(tx);
  return rows[0]?.n;
}
