// better-sqlite3 hands its native addon the SqliteError class once per process
// (`addon.isInitialized`). Jest loads JavaScript afresh for every test file but
// native addons once per worker, so from a worker's second test file on, driver
// errors would be instances of the first file's SqliteError and fail every
// `instanceof SqliteError`, the error translation's included. Forgetting the
// registration makes each test file's first connection register its own class.
const path = require("node:path");

// Loaded exactly as better-sqlite3 loads it, through its own `bindings`.
const driverRoot = path.dirname(require.resolve("better-sqlite3/package.json"));
const bindings = require(require.resolve("bindings", { paths: [driverRoot] }));
const addon = bindings({ bindings: "better_sqlite3.node", module_root: driverRoot });
addon.isInitialized = false;
