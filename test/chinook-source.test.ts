import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { zipSync } from "fflate";
import { BootstrapError } from "../src/db/bootstrap";
import { resolveChinook, type ChinookLocations } from "./support/chinook-source";
import { CHINOOK_SOURCE } from "./support/database";

const PINNED_SHA256 = "a3c903a61357c2059ea51ed5e3d79f33fa5f960cd948829b27f97ea8a4793c82";

const chinookBytes = fs.readFileSync(CHINOOK_SOURCE);

interface FileServer {
  url: string;
  requests(): number;
  close(): Promise<void>;
}

/** Serves `body` at /chinook on 127.0.0.1, counting the requests: the tests reach no internet. */
async function serve(body: Uint8Array): Promise<FileServer> {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests++;
    response.setHeader("Connection", "close");
    if (request.url !== "/chinook") response.writeHead(404).end();
    else response.writeHead(200, { "Content-Type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/chinook`,
    requests: () => requests,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

function sha256Of(filePath: string): string {
  return createHash("sha256").update(fs.readFileSync(filePath)).digest("hex");
}

function filesIn(directory: string): string[] {
  return fs.existsSync(directory) ? fs.readdirSync(directory) : [];
}

function corrupted(bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0xff;
  return copy;
}

let workDir: string;
let server: FileServer | undefined;

beforeEach(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "chinook-source-test-"));
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  fs.rmSync(workDir, { recursive: true, force: true });
});

/** No CHINOOK_DB, no ../shared: only the download is left. */
function cloneWithoutShared(env: Record<string, string>): ChinookLocations {
  return { env, sharedPath: path.join(workDir, "no-shared", "chinook.db"), cacheDirectory: path.join(workDir, "data") };
}

describe("resolveChinook with neither CHINOOK_DB nor ../shared", () => {
  it("downloads Chinook from CHINOOK_URL, checks its sha256, and says so", async () => {
    server = await serve(chinookBytes);

    const resolved = await resolveChinook(cloneWithoutShared({ CHINOOK_URL: server.url }));

    expect(path.dirname(resolved.path)).toBe(path.join(workDir, "data"));
    expect(sha256Of(resolved.path)).toBe(PINNED_SHA256);
    expect(resolved.description).toBe(
      `Chinook for the tests: ${resolved.path} (downloaded from ${server.url} (CHINOOK_URL), sha256 verified; set CHINOOK_DB to use a local chinook.db)`,
    );
    expect(server.requests()).toBe(1);
  });

  it("takes the chinook.db out of a zip, as the default CHINOOK_URL serves it", async () => {
    server = await serve(zipSync({ "chinook/chinook.db": chinookBytes }));

    const resolved = await resolveChinook(cloneWithoutShared({ CHINOOK_URL: server.url }));

    expect(sha256Of(resolved.path)).toBe(PINNED_SHA256);
  });

  it("downloads once: a later run reuses the verified download", async () => {
    server = await serve(chinookBytes);
    const locations = cloneWithoutShared({ CHINOOK_URL: server.url });
    const first = await resolveChinook(locations);

    const second = await resolveChinook(locations);

    expect(second.path).toBe(first.path);
    expect(second.description).toContain("downloaded by an earlier run, sha256 verified then");
    expect(server.requests()).toBe(1);
  });

  it("refuses a download whose sha256 is not CHINOOK_SHA256's, keeping nothing", async () => {
    server = await serve(corrupted(chinookBytes));

    const resolving = resolveChinook(cloneWithoutShared({ CHINOOK_URL: server.url }));

    await expect(resolving).rejects.toThrow(BootstrapError);
    await expect(resolving).rejects.toThrow(`checksum mismatch for ${server.url}: expected ${PINNED_SHA256}`);
    expect(filesIn(path.join(workDir, "data"))).toEqual([]);
  });

  it("downloads anew when CHINOOK_SHA256 names another build", async () => {
    const otherBuild = corrupted(chinookBytes);
    const otherSha256 = createHash("sha256").update(otherBuild).digest("hex");
    server = await serve(chinookBytes);
    await resolveChinook(cloneWithoutShared({ CHINOOK_URL: server.url }));
    await server.close();
    server = await serve(otherBuild);

    const resolved = await resolveChinook(cloneWithoutShared({ CHINOOK_URL: server.url, CHINOOK_SHA256: otherSha256 }));

    expect(sha256Of(resolved.path)).toBe(otherSha256);
    expect(server.requests()).toBe(1);
  });
});

describe("resolveChinook with a local Chinook", () => {
  it("uses CHINOOK_DB first, checked, downloading nothing", async () => {
    server = await serve(chinookBytes);
    const locations = { ...cloneWithoutShared({ CHINOOK_DB: CHINOOK_SOURCE, CHINOOK_URL: server.url }), sharedPath: CHINOOK_SOURCE };

    const resolved = await resolveChinook(locations);

    expect(resolved).toEqual({ path: path.resolve(CHINOOK_SOURCE), description: `Chinook for the tests: ${path.resolve(CHINOOK_SOURCE)} (CHINOOK_DB)` });
    expect(server.requests()).toBe(0);
  });

  it("uses ../shared when CHINOOK_DB is unset", async () => {
    server = await serve(chinookBytes);
    const locations = { ...cloneWithoutShared({ CHINOOK_URL: server.url }), sharedPath: CHINOOK_SOURCE };

    const resolved = await resolveChinook(locations);

    expect(resolved.path).toBe(CHINOOK_SOURCE);
    expect(resolved.description).toContain("(../shared, as in CI; CHINOOK_DB is unset)");
    expect(server.requests()).toBe(0);
  });

  it("refuses a CHINOOK_DB that is not there, naming it", async () => {
    const missing = path.join(workDir, "missing.db");

    await expect(resolveChinook(cloneWithoutShared({ CHINOOK_DB: missing }))).rejects.toThrow(`Chinook database not found at ${missing}: set CHINOOK_DB`);
  });

  it("refuses a CHINOOK_DB whose sha256 is not CHINOOK_SHA256's", async () => {
    const wrong = path.join(workDir, "wrong.db");
    fs.writeFileSync(wrong, corrupted(chinookBytes));

    await expect(resolveChinook(cloneWithoutShared({ CHINOOK_DB: wrong }))).rejects.toThrow(`checksum mismatch for ${wrong}`);
  });
});
