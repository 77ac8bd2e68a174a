/**
 * SharedPageTokenKeys' rotation and retention, over a store in memory and a
 * clock the test moves: the policy alone (test/page-tokens.test.ts runs it
 * over real databases, between processes).
 */
import { inspect } from "node:util";
import { Writable } from "node:stream";
import { KEY_REFRESH_MS, SharedPageTokenKeys, type PageTokenKeyStore, type StoredPageTokenKey } from "../src/db/page-token-keys";
import { UnavailableError } from "../src/errors";
import { createLogger } from "../src/logger";

const HOUR_MS = 3_600_000;
const SETTINGS = { rotationMs: 24 * HOUR_MS, retentionMs: 2 * HOUR_MS };

class MemoryKeyStore implements PageTokenKeyStore {
  keys: StoredPageTokenKey[] = [];
  reads = 0;
  failing = false;

  list(): Promise<StoredPageTokenKey[]> {
    this.reads += 1;
    if (this.failing) return Promise.reject(UnavailableError.database());
    return Promise.resolve(this.keys.map((key) => ({ ...key })));
  }

  add(key: StoredPageTokenKey, retiredThrough: number | undefined): Promise<void> {
    if (this.failing) return Promise.reject(UnavailableError.database());
    const kept = this.keys.filter((stored) => retiredThrough === undefined || stored.id > retiredThrough);
    this.keys = kept.some((stored) => stored.id === key.id) ? kept : [...kept, key];
    return Promise.resolve();
  }
}

let now: number;
let store: MemoryKeyStore;
let logLines: string[];

function open(): Promise<SharedPageTokenKeys> {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  return SharedPageTokenKeys.open(store, { ...SETTINGS, logger: createLogger({ level: "info", destination }), clock: () => new Date(now) });
}

beforeEach(() => {
  now = Date.UTC(2026, 0, 1);
  store = new MemoryKeyStore();
  logLines = [];
});

test("opening on no keys makes key 1, and signs with it", async () => {
  const keys = await open();

  expect(store.keys.map((key) => key.id)).toEqual([1]);
  expect((await keys.signingKey()).id).toBe(1);
  expect(await keys.verifyingKey(1)).toBeDefined();
  expect(await keys.verifyingKey(0)).toBeUndefined();
});

test("a key due for rotation is replaced; the replaced one verifies for the retention, then not, and goes at the next rotation", async () => {
  const keys = await open();

  now += SETTINGS.rotationMs;
  expect((await keys.signingKey()).id).toBe(2);
  now += SETTINGS.retentionMs - 1;
  expect(await keys.verifyingKey(1)).toBeDefined();
  now += 1;
  expect(await keys.verifyingKey(1)).toBeUndefined();
  expect(await keys.verifyingKey(2)).toBeDefined();

  now += SETTINGS.rotationMs;
  expect((await keys.signingKey()).id).toBe(3);
  expect(store.keys.map((key) => key.id)).toEqual([2, 3]);
});

test("another process's newer key is read when a token names it, and signs once this process reads the keys again", async () => {
  const keys = await open();
  const otherProcess = await open();
  expect((await otherProcess.signingKey()).id).toBe(1);

  store.keys.push({ id: 2, secret: Buffer.alloc(32, 7), createdAt: new Date(now) });
  expect((await keys.verifyingKey(2))?.id).toBe(2);
  expect((await otherProcess.signingKey()).id).toBe(1);
  now += KEY_REFRESH_MS;
  expect((await otherProcess.signingKey()).id).toBe(2);
});

test("concurrent callers share one read of the keys", async () => {
  const keys = await open();
  const readsBefore = store.reads;

  await Promise.all(Array.from({ length: 10 }, () => keys.verifyingKey(5)));

  expect(store.reads).toBe(readsBefore + 1);
});

test("while the database cannot be read, the last key keeps signing; a token naming a newer key is UNAVAILABLE, not invalid", async () => {
  const keys = await open();
  store.failing = true;

  now += SETTINGS.rotationMs;
  expect((await keys.signingKey()).id).toBe(1);
  await expect(keys.verifyingKey(2)).rejects.toBeInstanceOf(UnavailableError);
  expect(logLines.join("")).toContain("could not read the page token keys");
});

test("no key material shows when a key is logged or inspected", async () => {
  const keys = await open();
  const [stored] = store.keys;
  if (stored === undefined) throw new Error("no key stored");
  const secretTexts = ["hex", "base64", "base64url"].map((encoding) => Buffer.from(stored.secret).toString(encoding as BufferEncoding));

  const shown = inspect(await keys.signingKey(), { depth: 5 }) + JSON.stringify(await keys.signingKey());

  for (const text of secretTexts) expect(shown).not.toContain(text);
});
