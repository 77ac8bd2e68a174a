/** db:synth's command line: a wrong one is said in one line with the usage (exit 2), never as a stack trace. */
import { spawnSync } from "node:child_process";
import path from "node:path";

const SYNTH = path.join(__dirname, "..", "dist", "bench", "synth.js");

test.each([
  [[], "--customers N is required"],
  [["--customers", "0"], "--customers must be a number ≥ 1"],
  [["--customers", "10", "--bogus"], "unknown flag --bogus"],
  [["customers"], 'unexpected argument "customers"'],
])("db:synth %j exits 2 saying %j and how to call it", (argv, reason) => {
  const run = spawnSync(process.execPath, [SYNTH, ...argv], { encoding: "utf8" });

  expect(run.status).toBe(2);
  expect(run.stderr.trim().split("\n")).toEqual([
    expect.stringContaining(reason),
    expect.stringMatching(/^usage: npm run db:synth -- --customers N/),
  ]);
  expect(run.stderr).not.toMatch(/\n\s+at /);
});
