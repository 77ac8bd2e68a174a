import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { zipSync } from "fflate";
import pino from "pino";
import { BootstrapError, ensureDatabase, type ChinookSource } from "../src/db/bootstrap";
import { CHINOOK_SOURCE } from "./support/database";

const PINNED_SHA256 = "a3c903a61357c2059ea51ed5e3d79f33fa5f960cd948829b27f97ea8a4793c82";
const WRONG_SHA256 = "0".repeat(64);
const UNUSED_URL = "http://127.0.0.1:9/never-fetched";

const chinookBytes = fs.readFileSync(CHINOOK_SOURCE);

function sha256Of(filePath: string): string {
  return createHash("sha256").update(fs.readFileSync(filePath)).digest("hex");
}

/** A throwaway HTTP server on 127.0.0.1 answering each path with fixed bytes, 404 otherwise. */
async function startServer(routes: Record<string, Uint8Array>): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    const body = routes[request.url ?? ""];
    response.setHeader("Connection", "close");
    if (body === undefined) {
      response.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    response.writeHead(200, { "Content-Type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

let workDir: string;
let databasePath: string;

beforeEach(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "chinook-bootstrap-"));
  databasePath = path.join(workDir, "data", "chinook.db");
});

afterEach(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
});

function source(overrides: Partial<ChinookSource>): ChinookSource {
  return { databasePath, downloadUrl: UNUSED_URL, sha256: PINNED_SHA256, ...overrides };
}

/** Runs ensureDatabase expecting a BootstrapError, and returns it. */
async function expectBootstrapError(chinook: ChinookSource): Promise<BootstrapError> {
  const error: unknown = await ensureDatabase(chinook).then(
    () => undefined,
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(BootstrapError);
  if (!(error instanceof BootstrapError)) {
    throw new Error("unreachable");
  }
  expect(error.message).not.toMatch(/\n/);
  return error;
}

/** Nothing at databasePath and no temp file beside it. */
function expectNothingWritten(): void {
  expect(fs.existsSync(databasePath)).toBe(false);
  const directory = path.dirname(databasePath);
  const leftovers = fs.existsSync(directory) ? fs.readdirSync(directory) : [];
  expect(leftovers).toEqual([]);
}

describe("ensureDatabase from a local path", () => {
  let sourcePath: string;

  beforeEach(() => {
    sourcePath = path.join(workDir, "source", "chinook.db");
    fs.mkdirSync(path.dirname(sourcePath));
    fs.copyFileSync(CHINOOK_SOURCE, sourcePath);
  });

  it("copies the verified database into place and leaves the source untouched", async () => {
    const sourceMtime = fs.statSync(sourcePath).mtimeMs;
    const logLines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(line) });

    await expect(ensureDatabase(source({ sourcePath }), logger)).resolves.toBe("copied");

    expect(sha256Of(databasePath)).toBe(PINNED_SHA256);
    expect(fs.readFileSync(sourcePath).equals(chinookBytes)).toBe(true);
    expect(fs.statSync(sourcePath).mtimeMs).toBe(sourceMtime);
    expect(fs.readdirSync(path.dirname(databasePath))).toEqual(["chinook.db"]);
    expect(logLines).toHaveLength(1);
    expect(JSON.parse(logLines[0] ?? "{}")).toMatchObject({ level: 30, from: sourcePath, to: databasePath });
  });

  it("returns existing on a second call without rewriting the database", async () => {
    await ensureDatabase(source({ sourcePath }));
    const before = fs.statSync(databasePath);

    await expect(ensureDatabase(source({ sourcePath }))).resolves.toBe("existing");
    // Not even a missing source matters once the working copy exists.
    await expect(ensureDatabase(source({ sourcePath: path.join(workDir, "gone.db") }))).resolves.toBe("existing");

    const after = fs.statSync(databasePath);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it("rejects a checksum mismatch naming CHINOOK_SHA256 and writes nothing", async () => {
    const error = await expectBootstrapError(source({ sourcePath, sha256: WRONG_SHA256 }));

    expect(error.message).toContain("CHINOOK_SHA256");
    expect(error.message).toContain(WRONG_SHA256);
    expect(error.message).toContain(PINNED_SHA256);
    expectNothingWritten();
    expect(fs.readFileSync(sourcePath).equals(chinookBytes)).toBe(true);
  });

  it.each([
    ["the same path", (from: string) => from],
    ["a symbolic link", (from: string, to: string) => (fs.symlinkSync(from, to), to)],
    ["a hard link", (from: string, to: string) => (fs.linkSync(from, to), to)],
  ])("refuses a working database that is the source itself, through %s, naming both", async (_how, alias) => {
    fs.mkdirSync(path.dirname(databasePath), { recursive: true });
    const working = alias(sourcePath, databasePath);

    const error = await expectBootstrapError({ ...source({ sourcePath }), databasePath: working });

    expect(error.message).toContain("CHINOOK_DB");
    expect(error.message).toContain(working);
    expect(fs.readFileSync(sourcePath).equals(chinookBytes)).toBe(true);
  });

  it.each(["-wal", "-shm", "-journal"])(
    "refuses to put a copy beside a %s file left by a deleted database, writing nothing",
    async (suffix) => {
      fs.mkdirSync(path.dirname(databasePath), { recursive: true });
      fs.writeFileSync(`${databasePath}${suffix}`, "left over");

      const error = await expectBootstrapError(source({ sourcePath }));

      expect(error.message).toContain(`${databasePath}${suffix}`);
      expect(fs.existsSync(databasePath)).toBe(false);
    },
  );

  it("installs one copy when two processes bootstrap at once; the other finds it existing", async () => {
    const outcomes = await Promise.all([ensureDatabase(source({ sourcePath })), ensureDatabase(source({ sourcePath }))]);

    expect(outcomes.sort()).toEqual(["copied", "existing"]);
    expect(fs.readdirSync(path.dirname(databasePath))).toEqual(["chinook.db"]);
    expect(sha256Of(databasePath)).toBe(PINNED_SHA256);
  });

  it("rejects a missing source file naming CHINOOK_DB", async () => {
    const missing = path.join(workDir, "nowhere", "chinook.db");

    const error = await expectBootstrapError(source({ sourcePath: missing }));

    expect(error.message).toContain("CHINOOK_DB");
    expect(error.message).toContain(missing);
    expectNothingWritten();
  });
});

describe("ensureDatabase by download", () => {
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    server = await startServer({
      "/chinook.zip": zipSync({ "chinook.db": chinookBytes }),
      "/chinook.db": chinookBytes,
      "/no-db.zip": zipSync({ "readme.txt": new TextEncoder().encode("no database here") }),
    });
  });

  afterAll(async () => {
    await server.close();
  });

  it.each(["/chinook.zip", "/chinook.db"])("downloads and installs %s", async (route) => {
    await expect(ensureDatabase(source({ downloadUrl: server.baseUrl + route }))).resolves.toBe("downloaded");

    expect(sha256Of(databasePath)).toBe(PINNED_SHA256);
    expect(fs.readdirSync(path.dirname(databasePath))).toEqual(["chinook.db"]);
  });

  it("rejects a checksum mismatch naming CHINOOK_SHA256 and writes nothing", async () => {
    const downloadUrl = `${server.baseUrl}/chinook.zip`;

    const error = await expectBootstrapError(source({ downloadUrl, sha256: WRONG_SHA256 }));

    expect(error.message).toContain("CHINOOK_SHA256");
    expect(error.message).toContain(downloadUrl);
    expectNothingWritten();
  });

  it("rejects an HTTP 404 naming the URL and CHINOOK_URL", async () => {
    const downloadUrl = `${server.baseUrl}/missing.zip`;

    const error = await expectBootstrapError(source({ downloadUrl }));

    expect(error.message).toContain(downloadUrl);
    expect(error.message).toContain("404");
    expect(error.message).toContain("CHINOOK_URL");
    expectNothingWritten();
  });

  it("rejects a zip that holds no chinook.db", async () => {
    const error = await expectBootstrapError(source({ downloadUrl: `${server.baseUrl}/no-db.zip` }));

    expect(error.message).toContain("chinook.db");
    expectNothingWritten();
  });
});
