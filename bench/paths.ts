import path from "node:path";

/** The bench always runs compiled, from dist/bench/. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const BENCH_DIST = __dirname;
export const DATA_DIR = path.join(REPO_ROOT, "bench", ".data");
export const RESULTS_DIR = path.join(REPO_ROOT, "bench", "results");
export const SERVICE_ENTRY = path.join(REPO_ROOT, "dist", "src", "main.js");

/** The pristine Chinook database, as the tests find it. */
export const CHINOOK_SOURCE =
  process.env.CHINOOK_DB ?? path.resolve(REPO_ROOT, "..", "shared", "chinook", "chinook.db");

export function benchScript(name: string): string {
  return path.join(BENCH_DIST, `${name}.js`);
}
