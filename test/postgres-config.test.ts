import { ConfigError, loadConfig } from "../src/config";
import { redactedUrl } from "../src/db/postgres/url";

describe("database configuration", () => {
  it("is SQLite at DATABASE_PATH when DATABASE_URL is unset", () => {
    const config = loadConfig({ DATABASE_PATH: "/var/lib/chinook/chinook.db" });

    expect(config.database).toEqual({ engine: "sqlite", path: "/var/lib/chinook/chinook.db", synchronous: "FULL" });
  });

  it("is PostgreSQL when DATABASE_URL is set, with a pool of 10, a 5 s connect timeout and a 30 s statement timeout", () => {
    for (const url of ["postgres://chinook:s3cret@db.internal:5432/chinook?sslmode=require", "postgresql://localhost/chinook"]) {
      expect(loadConfig({ DATABASE_URL: url }).database).toEqual({
        engine: "postgres",
        url,
        poolSize: 10,
        connectTimeoutMs: 5_000,
        statementTimeoutMs: 30_000,
      });
    }
  });

  it("reads PG_POOL_SIZE, PG_CONNECT_TIMEOUT_MS and PG_STATEMENT_TIMEOUT_MS", () => {
    const config = loadConfig({
      DATABASE_URL: "postgres://localhost/chinook",
      PG_POOL_SIZE: "25",
      PG_CONNECT_TIMEOUT_MS: "1500",
      PG_STATEMENT_TIMEOUT_MS: "60000",
    });

    expect(config.database).toMatchObject({ poolSize: 25, connectTimeoutMs: 1_500, statementTimeoutMs: 60_000 });
  });

  it.each([
    ["PG_POOL_SIZE", "0", /PG_POOL_SIZE must be a whole number from 1 to 10000/],
    ["PG_CONNECT_TIMEOUT_MS", "soon", /PG_CONNECT_TIMEOUT_MS must be a whole number/],
    ["PG_STATEMENT_TIMEOUT_MS", "2147483648", /PG_STATEMENT_TIMEOUT_MS must be a whole number from 1 to 2147483647/],
  ])("refuses %s=%s", (name, value, message) => {
    expect(() => loadConfig({ DATABASE_URL: "postgres://localhost/chinook", [name]: value })).toThrow(message);
  });

  it.each([
    ["mysql://chinook:hunter2hunter2@db/chinook", /got "mysql:\/\/chinook:\*\*\*@db\/chinook"/],
    ["chinook:hunter2hunter2@db/chinook", /must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ["postgres://chinook:hunter2hunter2@[db/chinook", /must be a postgres:\/\/ or postgresql:\/\/ URL/],
  ])("refuses DATABASE_URL=%s without quoting its password", (url, message) => {
    let thrown: unknown;
    try {
      loadConfig({ DATABASE_URL: url });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(String((thrown as Error).message)).toMatch(message);
    expect(String((thrown as Error).message)).not.toContain("hunter2");
  });
});

describe("redactedUrl", () => {
  it("masks the password, in the authority and in the query", () => {
    expect(redactedUrl("postgres://chinook:s3cret@db:5432/chinook?sslmode=verify-full")).toBe("postgres://chinook:***@db:5432/chinook?sslmode=verify-full");
    expect(redactedUrl("postgresql://db/chinook?user=chinook&password=s3cret")).toBe("postgresql://db/chinook?user=chinook&password=***");
    expect(redactedUrl("postgres://db/chinook")).toBe("postgres://db/chinook");
  });

  it("quotes nothing of text that is not a URL", () => {
    expect(redactedUrl("chinook:s3cret@db")).not.toContain("s3cret");
  });
});
