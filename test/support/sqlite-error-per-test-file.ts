// better-sqlite3 hands its native addon the SqliteError class once per process
// (`addon.isInitialized`). Jest loads JavaScript afresh for every test file but
// native addons once per worker, so from a worker's second test file on, driver
// errors would be instances of the first file's SqliteError and fail every
// `instanceof SqliteError`, the error translation's included. Forgetting the
// registration makes each test file's first connection register its own class.
import { createRequire } from "node:module";
import path from "node:path";
import { SQLITE_DRIVER_PACKAGE } from "../../src/db/sqlite/driver";

interface Addon {
  isInitialized: boolean;
}

const load = createRequire(__filename);
const driverRoot = path.dirname(load.resolve(`${SQLITE_DRIVER_PACKAGE}/package.json`));

/** The addon exactly as the driver loads it: 12.x through `bindings`, 13.x through its lib/binding.js. */
function driverAddon(): Addon {
  if (SQLITE_DRIVER_PACKAGE === "better-sqlite3") {
    const bindings = load(load.resolve("bindings", { paths: [driverRoot] })) as (options: object) => Addon;
    return bindings({ bindings: "better_sqlite3.node", module_root: driverRoot });
  }
  const binding = load(path.join(driverRoot, "lib", "binding.js")) as { getBinding: () => Addon };
  return binding.getBinding();
}

driverAddon().isInitialized = false;
