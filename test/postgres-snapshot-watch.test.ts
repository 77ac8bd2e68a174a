import pg from "pg";
import { snapshotWatch, watchOtherWrites } from "../src/db/postgres/snapshot-watch";
import type { OtherWrites } from "../src/db/other-writes";
import { freshPostgresDatabase, type TestPostgresDatabase } from "./support/postgres";

/** A promise and the function that resolves it. */
function later<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  const promise = new Promise<T>((resolveWith, rejectWith) => {
    resolve = resolveWith;
    reject = rejectWith;
  });
  return { promise, resolve, reject };
}

/** Snapshots handed out one question at a time, as the test says. */
function scriptedSnapshots() {
  const questions: Array<ReturnType<typeof later<string>>> = [];
  const currentSnapshot = () => {
    const question = later<string>();
    questions.push(question);
    return question.promise;
  };
  const answer = (index: number, snapshot: string) => questions[index]?.resolve(snapshot);
  const fail = (index: number) => questions[index]?.reject(new Error("connection terminated"));
  return { questions, currentSnapshot, answer, fail };
}

/** Until the questions due are sent: they go out once the callbacks due when they were asked have run (batches.ts). */
const settle = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe("snapshotWatch", () => {
  it("shares one question among the calls made before it is sent, and tells one of them of a change", async () => {
    const server = scriptedSnapshots();
    const otherWrites = snapshotWatch(server.currentSnapshot);

    const first = [otherWrites(), otherWrites(), otherWrites()];
    await settle();
    expect(server.questions).toHaveLength(1);
    server.answer(0, "100:105:");
    expect((await Promise.all(first)).sort()).toEqual(["none", "none", "some"]);

    const again = [otherWrites(), otherWrites()];
    await settle();
    server.answer(1, "100:105:");
    expect(await Promise.all(again)).toEqual(["none", "none"]);
    expect(server.questions).toHaveLength(2);
  });

  it("answers a call made while a question is in flight with the next question, sent when that one returns", async () => {
    const server = scriptedSnapshots();
    const otherWrites = snapshotWatch(server.currentSnapshot);
    const early = otherWrites();
    await settle();
    const late = [otherWrites(), otherWrites()];
    await settle();
    expect(server.questions).toHaveLength(1);

    server.answer(0, "100:105:");
    expect(await early).toBe("some");
    await settle();
    expect(server.questions).toHaveLength(2);
    // A transaction committed after the first question: only the second one can tell.
    server.answer(1, "100:106:");
    expect((await Promise.all(late)).sort()).toEqual(["none", "some"]);
  });

  it("answers unknown when the question fails, and asks again on the next call", async () => {
    const server = scriptedSnapshots();
    const otherWrites = snapshotWatch(server.currentSnapshot);
    const failed = [otherWrites(), otherWrites()];
    await settle();
    server.fail(0);
    expect(await Promise.all(failed)).toEqual(["unknown", "unknown"]);

    const next = otherWrites();
    await settle();
    server.answer(1, "100:105:");
    expect(await next).toBe("some");
  });
});

describe("watchOtherWrites on PostgreSQL", () => {
  let database: TestPostgresDatabase;
  let pool: pg.Pool;
  let writer: pg.Client;

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    writer = new pg.Client({ connectionString: database.url });
    await writer.connect();
  });

  afterAll(async () => {
    await writer.end();
    await pool.end();
    await database.drop();
  });

  /** The answers of `calls` calls made at once. Other tests' databases share the server, so any answer may be "some". */
  async function answersOf(otherWrites: () => Promise<OtherWrites>, calls: number): Promise<OtherWrites[]> {
    return Promise.all(Array.from({ length: calls }, () => otherWrites()));
  }

  it("tells exactly one of the calls after a commit by another connection, in one round trip", async () => {
    let questions = 0;
    const counted = new Proxy(pool, {
      get(target, property, receiver) {
        if (property === "query") questions++;
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const otherWrites = watchOtherWrites(counted);
    await otherWrites();

    await writer.query(`UPDATE customers SET "City" = 'Lisbon' WHERE "CustomerId" = 1`);
    questions = 0;
    const answers = await answersOf(otherWrites, 8);
    expect(answers.filter((answer) => answer === "some")).toHaveLength(1);
    expect(answers.filter((answer) => answer === "unknown")).toHaveLength(0);
    expect(questions).toBe(1);
  });

  it("counts this pool's own commits and a rolled-back transaction's end as writes too", async () => {
    const otherWrites = watchOtherWrites(pool);
    await otherWrites();
    await pool.query(`UPDATE customers SET "City" = 'Oslo' WHERE "CustomerId" = 2`);
    expect(await otherWrites()).toBe("some");

    await writer.query("BEGIN");
    await writer.query(`UPDATE customers SET "City" = 'Porto' WHERE "CustomerId" = 3`);
    await otherWrites();
    await writer.query("ROLLBACK");
    expect(await otherWrites()).toBe("some");
  });

  it("answers unknown while the server cannot be asked", async () => {
    const closed = new pg.Pool({ connectionString: database.url, max: 1 });
    await closed.end();
    expect(await watchOtherWrites(closed)()).toBe("unknown");
  });
});
