import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { CHINOOK_SOURCE } from "./support/database";
import { assertBuilt, MAIN_JS, runProgram, type MainProcess } from "./support/main-process";

const REPO_ROOT = path.resolve(__dirname, "..");
const BUILD_FIRST = "npm run build && ";

/** npm is installed beside node; the test may run without npm's PATH. */
const PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ""}`;

function packageScripts(): Record<string, string> {
  const { scripts } = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  return scripts;
}

/** The scripts that run one of our compiled programs (the others run tsc, buf, eslint or jest). */
function ownPrograms(): Array<[name: string, command: string]> {
  return Object.entries(packageScripts())
    .map(([name, command]): [string, string] => [name, command.startsWith(BUILD_FIRST) ? command.slice(BUILD_FIRST.length) : command])
    .filter(([, command]) => /^(?:exec )?node dist\//.test(command));
}

let dir: string;
/** What each test started, ended if it is still running when the test is over. */
let started: Array<{ readonly pid?: number }> = [];

beforeAll(() => {
  assertBuilt();
});

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "chinook-package-"));
});

afterEach(() => {
  for (const { pid } of started) if (pid !== undefined && isRunning(pid)) process.kill(pid, "SIGKILL");
  started = [];
  rmSync(dir, { recursive: true, force: true });
});

/** Settings that would make a program create, copy or download a database, all pointing into `dir`. */
function environment(): Record<string, string> {
  return { PATH, HOME: process.env.HOME ?? tmpdir(), DATABASE_PATH: path.join(dir, "chinook.db"), CHINOOK_DB: path.resolve(CHINOOK_SOURCE) };
}

describe("--help", () => {
  it("is understood by every script that runs one of our programs", () => {
    expect(ownPrograms().map(([name]) => name)).toEqual(expect.arrayContaining(["start", "migrate", "bench", "db:synth", "sql"]));
  });

  /**
   * The script's command as npm runs it (`sh -c`, with the arguments after
   * `--` appended), less the `npm run build` in front: the suite runs against
   * a fresh build already, and one build per script would take minutes.
   */
  it.each(ownPrograms())("npm run %s -- --help prints the usage, exits 0 and creates nothing", async (_name, command) => {
    const { stdout, stderr } = await promisify(execFile)("sh", ["-c", `${command} --help`], { cwd: REPO_ROOT, env: environment() });

    expect(stdout).toMatch(/^usage: /);
    expect(stderr).toBe("");
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reaches the service through npm start itself (its build skipped)", async () => {
    const run = npmStart(["--ignore-scripts", "--silent", "--", "--help"]);

    expect(await run.exitCode()).toBe(0);
    expect(run.lines()[0]).toEqual({ notJson: expect.stringMatching(/^usage: node dist\/src\/main\.js/) });
    expect(readdirSync(dir)).toEqual([]);
  });

  it("lists every setting the service reads", async () => {
    const usage = (await promisify(execFile)(process.execPath, [MAIN_JS, "--help"])).stdout;
    const configuration = readFileSync(path.join(REPO_ROOT, "src", "config.ts"), "utf8");
    const settings = [...configuration.matchAll(/\benv, "([A-Z0-9_]+)"/g)].map(([, name]) => name);

    expect(settings.length).toBeGreaterThan(20);
    for (const setting of settings) expect(usage).toContain(setting);
  });
});

describe("npm start under a supervisor", () => {
  /**
   * Without its prestart build (--ignore-scripts skips only the pre and post
   * scripts): npm still runs `start` as it always does, through `sh -c`,
   * forwarding SIGTERM to that shell, which must not outlive the node it started.
   */
  it("stops the service when the supervisor sends SIGTERM to npm's own pid", async () => {
    const npm = npmStart(["--ignore-scripts", "--silent"], { GRPC_ADDR: "127.0.0.1:0", LOG_LEVEL: "info" });
    await npm.logLine("serving");
    const service = descendantsOf(npm.child.pid ?? Number.NaN);
    started.push(...service.map((pid) => ({ pid })));
    expect(service).not.toEqual([]);

    npm.child.kill("SIGTERM");

    expect(await npm.exitCode()).toBe(0);
    expect(service.filter(isRunning)).toEqual([]);
    expect(npm.lines().map((line) => line.msg)).toContain("stopped");
  });
});

function npmStart(args: readonly string[], env: Record<string, string> = {}): MainProcess {
  const npm = runProgram("npm", ["start", ...args], { ...environment(), ...env }, REPO_ROOT);
  started.push(npm.child);
  return npm;
}

/** Every process below `pid`, from Linux's /proc: whatever npm started, however many shells deep. */
function descendantsOf(pid: number): number[] {
  const children = processes()
    .filter(({ parent }) => parent === pid)
    .map((process) => process.pid);
  return [...children, ...children.flatMap(descendantsOf)];
}

function processes(): Array<{ pid: number; parent: number }> {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        // "pid (command) state ppid …": the command may itself hold spaces and parentheses.
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const [, parent] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return [{ pid: Number(entry), parent: Number(parent) }];
      } catch {
        return []; // ended between listing and reading
      }
    });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the licence", () => {
  it("is the MIT licence package.json declares, in a LICENSE file", () => {
    const { license } = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { license: string };
    const text = readFileSync(path.join(REPO_ROOT, "LICENSE"), "utf8");

    expect(license).toBe("MIT");
    expect(text).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the chinook-grpc authors\n/);
    expect(text).toContain("Permission is hereby granted, free of charge, to any person obtaining a copy");
  });
});
