/**
 * The README's walk-through ("Try it"), taken from README.md itself: its two
 * ```sh walkthrough blocks, one of grpcurl commands and one of `buf curl`
 * commands, the same calls in the same order. The `buf curl` commands run as
 * written, in order, against a real server on a fresh database, the README's
 * localhost:50051 replaced by the server's address. grpcurl cannot run here
 * (a Go program, no npm package, and no download from the tests), so each
 * grpcurl command is read as grpcurl 1.9 reads it (test/support/grpcurl.ts)
 * and must name served methods and send what its `buf curl` twin sent.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { createRegistry, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { file_chinook_v1_customer } from "../gen/chinook/v1/customer_pb";
import { file_chinook_v1_customer_service } from "../gen/chinook/v1/customer_service_pb";
import { file_chinook_v1_invoice } from "../gen/chinook/v1/invoice_pb";
import { file_chinook_v1_invoice_service } from "../gen/chinook/v1/invoice_service_pb";
import { file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb";
import { grpcurlRequest, methodNamed, parseGrpcurl, type GrpcurlCommand } from "./support/grpcurl";
import { startTestServer, type TestServer } from "./support/server";

const REPO_ROOT = path.resolve(__dirname, "..");
const README_ADDRESS = "localhost:50051";
const BUF = path.join(REPO_ROOT, "node_modules/.bin/buf");
const BUF_TIMEOUT_MS = 20_000;
const REGISTRY = createRegistry(
  file_chinook_v1_customer,
  file_chinook_v1_customer_service,
  file_chinook_v1_invoice,
  file_chinook_v1_invoice_service,
  file_grpc_health_v1_health,
);

/** What each `buf curl` command of the walk-through targets, and what it must print, in the README's order. */
const EXPECTED_STEPS: ReadonlyArray<{ target: string; prints(stdout: string): void }> = [
  {
    target: "--list-services",
    prints: (stdout) => expect(linesOf(stdout)).toEqual(expect.arrayContaining(["chinook.v1.CustomerService", "chinook.v1.InvoiceService", "grpc.health.v1.Health"])),
  },
  {
    target: "--list-methods",
    prints: (stdout) => expect(linesOf(stdout)).toEqual(expect.arrayContaining(["chinook.v1.CustomerService/GetCustomer", "chinook.v1.InvoiceService/CreateInvoice"])),
  },
  { target: "grpc.health.v1.Health/Check", prints: (stdout) => expect(messagesIn(stdout)).toEqual([{ status: "SERVING" }]) },
  {
    target: "chinook.v1.CustomerService/GetCustomer",
    prints: (stdout) => expect(messagesIn(stdout)).toEqual([expect.objectContaining({ customerId: "1", firstName: "Luís", lastName: "Gonçalves" })]),
  },
  {
    target: "chinook.v1.CustomerService/ListCustomers",
    prints: (stdout) =>
      expect(messagesIn(stdout)).toMatchObject([
        {
          customers: ["Barnett", "Brooks", "Chase", "Cunningham", "Gordon"].map((lastName) => ({ lastName, country: "USA" })),
          nextPageToken: expect.stringMatching(/.+/),
          totalSize: 13,
        },
      ]),
  },
  {
    target: "chinook.v1.CustomerService/CreateCustomer",
    prints: (stdout) =>
      expect(messagesIn(stdout)).toMatchObject([
        {
          customerId: "60",
          email: "ada@example.com",
          status: "CUSTOMER_STATUS_ACTIVE",
          profile: { loyaltyTier: "LOYALTY_TIER_GOLD", tags: ["vip"], attributes: { source: "readme" } },
        },
      ]),
  },
  {
    target: "chinook.v1.CustomerService/UpdateCustomer",
    prints: (stdout) =>
      expect(messagesIn(stdout)).toMatchObject([
        { customerId: "60", city: "London", country: "UK", profile: { loyaltyTier: "LOYALTY_TIER_GOLD", tags: ["vip", "beta"], attributes: { source: "readme" } } },
      ]),
  },
  {
    target: "chinook.v1.CustomerService/ListCustomers",
    prints: (stdout) => expect(messagesIn(stdout)).toMatchObject([{ customers: [{ customerId: "60" }], totalSize: 1 }]),
  },
  {
    target: "chinook.v1.CustomerService/DeleteCustomer",
    prints: (stdout) => expect(messagesIn(stdout)).toMatchObject([{ customerId: "60", status: "CUSTOMER_STATUS_DELETED" }]),
  },
  {
    target: "chinook.v1.CustomerService/UndeleteCustomer",
    prints: (stdout) => expect(messagesIn(stdout)).toMatchObject([{ customerId: "60", status: "CUSTOMER_STATUS_ACTIVE" }]),
  },
  {
    target: "chinook.v1.InvoiceService/CreateInvoice",
    prints: (stdout) =>
      expect(messagesIn(stdout)).toMatchObject([
        { customerId: "60", total: "1.98", billingCity: "London", billingCountry: "UK", lines: [{ trackId: "1", quantity: 1 }, { trackId: "2", quantity: 1 }] },
      ]),
  },
  {
    target: "chinook.v1.InvoiceService/ListInvoices",
    prints: (stdout) => expect(messagesIn(stdout)).toMatchObject([{ invoices: [{ customerId: "60", total: "1.98" }] }]),
  },
  {
    target: "chinook.v1.CustomerService/ExportCustomers",
    prints: (stdout) => expect(messagesIn(stdout).map((customer) => customer.country)).toEqual(Array<string>(5).fill("Brazil")),
  },
];

interface Invocation {
  program: string;
  args: string[];
}

interface BufCommand {
  /** `--list-services`, `--list-methods`, or the method, `package.Service/Method`. */
  target: string;
  body: string | undefined;
  /** The arguments to the buf binary, as `npx buf ARGS` passes them. */
  args: string[];
}

interface BufOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The blocks marked ```sh walkthrough, in order. */
function walkthroughBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh walkthrough\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? "");
}

/**
 * Stand-ins that write their arguments to stdout (fd 3 once the script has
 * moved its own stdout to stderr): name, argument count, arguments, each NUL-terminated.
 */
const RECORDERS = ["grpcurl", "npx"].map((name) => `${name}() { printf '%s\\0' ${name} "$#" "$@" >&3; }`).join("\n");

/**
 * The commands of a block as argv, split and unquoted by sh itself: the block
 * runs with grpcurl and npx recorded instead of run, and no PATH, so any other
 * command fails, and whatever a builtin prints fails the test too.
 */
async function invocationsOf(block: string, address: string): Promise<Invocation[]> {
  const script = `set -eu\nexec 3>&1 1>&2\n${RECORDERS}\n${block.replaceAll(README_ADDRESS, address)}`;
  const { stdout, stderr } = await promisify(execFile)("/bin/sh", ["-c", script], { env: { PATH: "/nonexistent" } });
  if (stderr !== "") throw new Error(`a walkthrough block runs more than grpcurl or npx buf curl: it printed ${stderr}`);
  return recordsIn(stdout);
}

function recordsIn(recorded: string): Invocation[] {
  const fields = recorded.split("\0");
  const invocations: Invocation[] = [];
  for (let index = 0; index + 1 < fields.length; ) {
    const count = Number(fields[index + 1]);
    invocations.push({ program: fields[index] ?? "", args: fields.slice(index + 2, index + 2 + count) });
    index += 2 + count;
  }
  return invocations;
}

function grpcurlCommandOf({ program, args }: Invocation): GrpcurlCommand & { address: string } {
  if (program !== "grpcurl") throw new Error(`the grpcurl block runs ${program} ${args.join(" ")}`);
  return parseGrpcurl(args, REGISTRY);
}

/** `npx buf curl [FLAGS] [-d BODY] URL`, where URL is the server's, with the method's path for a call. */
function bufCommandOf({ program, args }: Invocation, address: string): BufCommand {
  const [buf, curl, ...rest] = args;
  const url = rest.at(-1) ?? "";
  if (program !== "npx" || buf !== "buf" || curl !== "curl") throw new Error(`the buf curl block runs ${program} ${args.join(" ")}`);
  const base = `http://${address}`;
  const listing = rest.find((arg) => arg === "--list-services" || arg === "--list-methods");
  if (!(url === base && listing !== undefined) && !url.startsWith(`${base}/`)) throw new Error(`buf curl ${args.join(" ")}: not a URL of ${README_ADDRESS}`);
  const dataAt = rest.indexOf("-d");
  return { target: listing ?? url.slice(base.length + 1), body: dataAt < 0 ? undefined : rest[dataAt + 1], args: args.slice(1) };
}

/** The step of the buf curl block a grpcurl command stands for. */
function bufTargetOf(command: GrpcurlCommand): string {
  if (command.kind === "list") return "--list-services";
  if (command.kind === "describe") return "--list-methods";
  return `${command.method.parent.typeName}/${command.method.name}`;
}

function runBuf(args: readonly string[]): Promise<BufOutcome> {
  return new Promise((resolve, reject) => {
    execFile(BUF, args, { timeout: BUF_TIMEOUT_MS, cwd: REPO_ROOT }, (error, stdout, stderr) => {
      if (error === null) resolve({ exitCode: 0, stdout, stderr });
      else if (typeof error.code === "number") resolve({ exitCode: error.code, stdout, stderr });
      else reject(error);
    });
  });
}

function linesOf(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

/** The messages buf curl printed: pretty-printed JSON objects, one after another. */
function messagesIn(stdout: string): JsonObject[] {
  const documents = stdout.trim() === "" ? [] : stdout.trim().split(/(?<=^\})\n(?=\{$)/m);
  return documents.map((document) => JSON.parse(document) as JsonObject);
}

/** What `buf curl -d BODY` sends: proto3 JSON, decoded the way every protojson-based client decodes it. */
function bufRequest(command: BufCommand): JsonValue {
  const method = methodNamed(command.target, REGISTRY);
  return toJson(method.input, fromJson(method.input, JSON.parse(command.body ?? "{}") as JsonValue));
}

describe("the README's walk-through", () => {
  const [grpcurlBlock = "", bufBlock = "", ...otherBlocks] = walkthroughBlocks(readFileSync(path.join(REPO_ROOT, "README.md"), "utf8"));
  let server: TestServer;
  let grpcurlCommands: Array<GrpcurlCommand & { address: string }>;
  let bufCommands: BufCommand[];

  beforeAll(async () => {
    server = await startTestServer();
    grpcurlCommands = (await invocationsOf(grpcurlBlock, server.address)).map(grpcurlCommandOf);
    bufCommands = (await invocationsOf(bufBlock, server.address)).map((invocation) => bufCommandOf(invocation, server.address));
  });

  afterAll(async () => {
    await server.stop();
  });

  it("is two sh walkthrough blocks, grpcurl's and buf curl's, with the same steps in the same order", () => {
    expect(otherBlocks).toEqual([]);
    expect(bufCommands.map((command) => command.target)).toEqual(EXPECTED_STEPS.map((step) => step.target));
    expect(grpcurlCommands.map(bufTargetOf)).toEqual(EXPECTED_STEPS.map((step) => step.target));
    expect(new Set(grpcurlCommands.map((command) => command.address))).toEqual(new Set([server.address]));
  });

  it("runs every buf curl command as written, in order, each printing what the walk-through says", async () => {
    for (const [index, command] of bufCommands.entries()) {
      const outcome = await runBuf(command.args);
      const shown = `npx buf ${command.args.join(" ")}`;

      expect({ shown, exitCode: outcome.exitCode, stderr: outcome.stderr }).toEqual({ shown, exitCode: 0, stderr: "" });
      EXPECTED_STEPS[index]?.prints(outcome.stdout);
    }
  });

  it("has grpcurl send, step by step, the request buf curl sent (grpcurl itself cannot run here)", () => {
    const calls = grpcurlCommands.flatMap((command, index) => (command.kind === "call" ? [{ command, twin: bufCommands[index] }] : []));
    expect(calls.map(({ command }) => command.method.name)).toContain("UpdateCustomer");

    for (const { command, twin } of calls) {
      const sent = toJson(command.method.input, grpcurlRequest(command.method, command.body));

      expect({ method: command.method.name, sent }).toEqual({ method: command.method.name, sent: twin === undefined ? undefined : bufRequest(twin) });
    }
  });

  it("writes the FieldMask for each client in the one form it accepts", async () => {
    const updateCustomer = methodNamed("chinook.v1.CustomerService/UpdateCustomer", REGISTRY);
    const grpcurlUpdate = grpcurlCommands.find((command) => command.kind === "call" && command.method === updateCustomer);
    const grpcurlBody = grpcurlUpdate?.kind === "call" ? grpcurlUpdate.body : undefined;
    const bufUpdate = bufCommands.find((command) => command.target === "chinook.v1.CustomerService/UpdateCustomer");

    // grpcurl refuses the proto3 JSON string (fullstorydev/grpcurl#393)...
    expect(() => grpcurlRequest(updateCustomer, bufUpdate?.body)).toThrow("fullstorydev/grpcurl#393");
    // ...which is all buf curl accepts: grpcurl's {"paths": [...]} fails before anything is sent.
    const refused = await runBuf(["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", grpcurlBody ?? "", `http://${server.address}/${updateCustomer.parent.typeName}/UpdateCustomer`]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toMatch(/json unmarshal: .*unexpected token \{/);
  });
});
