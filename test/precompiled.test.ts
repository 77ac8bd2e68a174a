import { rmSync } from "node:fs";
import { openDatabase, type Database } from "../src/db/sqlite/connection";
import { withParameters } from "../src/db/precompiled";
import { compileOnly } from "../src/db/sqlite/precompiled";
import { inTransaction } from "../src/db/sqlite/transaction";
import { copyChinook } from "./support/database";

const BY_ID = compileOnly.selectFrom("customers").select(["CustomerId", "Email"]).where("CustomerId", "=", 0n).compile();

let dir: string;
let database: Database;

beforeEach(() => {
  const copy = copyChinook();
  dir = copy.dir;
  database = openDatabase(copy.file);
});

afterEach(async () => {
  await database.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("precompiled queries", () => {
  it("compile to the SQLite SQL the executors' own builders produce", () => {
    const built = database.db.selectFrom("customers").select(["CustomerId", "Email"]).where("CustomerId", "=", 7n).compile();
    expect(BY_ID.sql).toBe(built.sql);
  });

  it("run with new parameters on the database and inside a transaction", async () => {
    const direct = await database.db.executeQuery(withParameters(BY_ID, [1n]));
    expect(direct.rows).toEqual([{ CustomerId: 1n, Email: "luisg@embraer.com.br" }]);
    const inside = await inTransaction(database.db, (tx) => tx.executeQuery(withParameters(BY_ID, [2n])));
    expect(inside.rows.map((row) => row.CustomerId)).toEqual([2n]);
  });

  it("refuses a parameter list of another length", () => {
    expect(() => withParameters(BY_ID, [1n, 2n])).toThrow("the query takes 1 parameters, not 2");
  });
});
