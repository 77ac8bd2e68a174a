import { sqliteDatabaseOf, startTestServer } from "./support/server";

/** The line the server writes once it serves. */
function servingLine(logs: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> | undefined {
  return logs.find((line) => typeof line.msg === "string" && line.msg.startsWith("serving gRPC"));
}

describe("SQLite durability", () => {
  it("syncs the WAL on every commit by default (synchronous = FULL), and says so when it starts serving", async () => {
    const server = await startTestServer();
    try {
      expect(sqliteDatabaseOf(server.app).sqlite.pragma("synchronous", { simple: true })).toBe(2n);
      expect(servingLine(server.logs)).toEqual(expect.objectContaining({ engine: "sqlite", synchronous: "FULL" }));
    } finally {
      await server.stop();
    }
  });

  it("syncs only at checkpoints with SQLITE_SYNCHRONOUS=NORMAL, and says so", async () => {
    const server = await startTestServer({ SQLITE_SYNCHRONOUS: "NORMAL" });
    try {
      expect(sqliteDatabaseOf(server.app).sqlite.pragma("synchronous", { simple: true })).toBe(1n);
      expect(servingLine(server.logs)).toEqual(expect.objectContaining({ synchronous: "NORMAL" }));
    } finally {
      await server.stop();
    }
  });
});
