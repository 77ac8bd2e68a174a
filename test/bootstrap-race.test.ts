/**
 * Two processes starting at once on one new database path: the other one
 * installs and opens the database between this one's look for it and its
 * look for journals. Forced by a stat() that lets the peer in at that moment.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHINOOK_SOURCE } from "./support/database";

let peerInstalls: ((databasePath: string) => void) | undefined;

jest.mock("node:fs/promises", () => {
  const actual = jest.requireActual<typeof import("node:fs/promises")>("node:fs/promises");
  return {
    ...actual,
    stat: async (...args: Parameters<typeof actual.stat>) => {
      try {
        return await actual.stat(...args);
      } catch (error) {
        const install = peerInstalls;
        // Once, right after this process found no database: the peer installs it and opens it (-wal, -shm).
        if (install !== undefined && !/-(wal|shm|journal)$/.test(String(args[0]))) {
          peerInstalls = undefined;
          install(String(args[0]));
        }
        throw error;
      }
    },
  };
});

// After the mock, which applies to what these import.
import { ensureDatabase } from "../src/db/bootstrap";
import { openDatabase, type Database } from "../src/db/sqlite/connection";

const PINNED_SHA256 = "a3c903a61357c2059ea51ed5e3d79f33fa5f960cd948829b27f97ea8a4793c82";

test("the database a peer installed meanwhile is used, its journal not taken for a leftover", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chinook-race-"));
  const databasePath = path.join(dir, "chinook.db");
  let peer: Database | undefined;
  peerInstalls = (file) => {
    fs.copyFileSync(CHINOOK_SOURCE, file);
    peer = openDatabase(file);
    peer.sqlite.prepare("SELECT count(*) FROM sqlite_master").get(); // now -wal and -shm exist
  };
  try {
    const source = { databasePath, sourcePath: CHINOOK_SOURCE, downloadUrl: "http://127.0.0.1:9/", sha256: PINNED_SHA256 };

    await expect(ensureDatabase(source)).resolves.toBe("existing");

    expect(fs.existsSync(`${databasePath}-wal`)).toBe(true);
  } finally {
    await peer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
