/**
 * In-process microbenchmarks of the RPC path's per-call pieces, steadier than
 * a loopback benchmark on a shared 2-core machine: each prints µs per call.
 *
 *   node dist/bench/micro.js [--only NAME,…] [--calls N]
 */
import {
  Metadata,
  status,
  type ServerInterceptingCallInterface,
  type ServerMethodDefinition,
} from "@grpc/grpc-js";
import { clone, create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { CustomerSchema } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { CachedCustomers, type CacheableCustomers } from "../src/customers/cache";
import { validateCustomer } from "../src/customers/validation";
import { serviceDefinition } from "../src/grpc/adapter";
import { RpcObserver } from "../src/grpc/interceptors";
import { RpcMetrics } from "../src/grpc/rpc-metrics";
import { createLogger } from "../src/logger";
import { CONSTANT_CUSTOMER } from "./ceiling-server";
import { Flags } from "./flags";
import { Random } from "./random";
import { syntheticCustomer } from "./synthetic-customers";

type InterceptingServerListener = Parameters<ServerInterceptingCallInterface["start"]>[0];
type PartialStatusObject = Parameters<ServerInterceptingCallInterface["sendStatus"]>[0];

interface Micro {
  name: string;
  /** One operation; a promise when it is asynchronous. */
  run: () => unknown;
}

/** The grpc-js call beneath an interceptor, answering at once. */
class ImmediateCall implements ServerInterceptingCallInterface {
  private listener: InterceptingServerListener | undefined;

  start(listener: InterceptingServerListener): void {
    this.listener = listener;
  }
  sendMetadata(): void {}
  sendMessage(_message: unknown, callback: () => void): void {
    callback();
  }
  sendStatus(): void {}
  startRead(): void {}
  getPeer(): string {
    return "127.0.0.1:50000";
  }
  getDeadline(): number {
    return Infinity;
  }
  getHost(): string {
    return "localhost";
  }
  getAuthContext(): ReturnType<ServerInterceptingCallInterface["getAuthContext"]> {
    return {};
  }
  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface["getConnectionInfo"]> {
    return {};
  }
  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface["getMetricsRecorder"]> {
    throw new Error("not used");
  }

  receive(request: unknown): InterceptingServerListener {
    if (this.listener === undefined) throw new Error("the interceptor never started its call");
    this.listener.onReceiveMetadata(new Metadata());
    this.listener.onReceiveMessage(request);
    this.listener.onReceiveHalfClose();
    return this.listener;
  }
}

const OK: PartialStatusObject = { code: status.OK, details: "", metadata: null };

/** One unary call through the RpcObserver interceptor: metadata, message, half-close, answer, status. */
function interceptorMicro(): Micro {
  const registry = new Registry();
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const observer = new RpcObserver({
    logger: createLogger({ level: "warn", destination: silent }),
    metrics: new RpcMetrics(registry),
    inFlightServices: [CustomerService.typeName],
    propagateContext: false,
  });
  const definition = methodDefinition("getCustomer");
  return {
    name: "interceptor: one unary call",
    run: async () => {
      const next = new ImmediateCall();
      const intercepted = observer.interceptor(definition, next);
      intercepted.start({
        onReceiveMetadata: () => undefined,
        onReceiveMessage: () => undefined,
        onReceiveHalfClose: () => undefined,
        onCancel: () => undefined,
      });
      next.receive({});
      // The handler's own awaits, as a cache hit makes them.
      await Promise.resolve();
      intercepted.sendMetadata(new Metadata());
      intercepted.sendMessage(CONSTANT_CUSTOMER, () => undefined);
      intercepted.sendStatus(OK);
    },
  };
}

function methodDefinition(localName: string): ServerMethodDefinition<unknown, unknown> {
  const definition = serviceDefinition(CustomerService)[localName];
  if (definition === undefined) throw new Error(`no method ${localName}`);
  return definition as ServerMethodDefinition<unknown, unknown>;
}

/** A GetCustomer answered from the read cache, through the adapter's serializer. */
function cacheHitMicro(): Micro {
  const unused = (): never => {
    throw new Error("not used");
  };
  const inner: CacheableCustomers = {
    get: async () => clone(CustomerSchema, CONSTANT_CUSTOMER),
    ...{ batchGet: unused, list: unused, listIds: unused, stream: unused, create: unused, batchCreate: unused },
    ...{ update: unused, softDelete: unused, undelete: unused },
  };
  const cache = new CachedCustomers(inner, { maxEntries: 10, maxBytes: 1 << 20, ttlMs: 0, registry: new Registry() });
  const serialize = methodDefinition("getCustomer").responseSerialize;
  return { name: "cache hit + response encoding", run: async () => serialize(await cache.get(1n)) };
}

/** CreateCustomer's validation of a typical synthetic customer (profile, tags, attributes). */
function validationMicro(): Micro {
  const random = new Random(1);
  const customers = Array.from({ length: 64 }, (_, serial) =>
    create(CustomerSchema, syntheticCustomer(random, serial + 1).customer),
  );
  let next = 0;
  return {
    name: "validateCustomer(synthetic customer)",
    run: () => validateCustomer(customers[next++ % customers.length] ?? CONSTANT_CUSTOMER),
  };
}

function encodingMicros(): Micro[] {
  const bytes = toBinary(CustomerSchema, CONSTANT_CUSTOMER);
  return [
    { name: "toBinary(customer)", run: () => toBinary(CustomerSchema, CONSTANT_CUSTOMER) },
    { name: "fromBinary(customer)", run: () => fromBinary(CustomerSchema, bytes) },
    { name: "clone(customer)", run: () => clone(CustomerSchema, CONSTANT_CUSTOMER) },
    { name: "create(schema, customer)", run: () => create(CustomerSchema, CONSTANT_CUSTOMER) },
  ];
}

async function timeMicro(micro: Micro, calls: number): Promise<number> {
  const warmup = Math.ceil(calls / 5);
  for (let i = 0; i < warmup; i++) await micro.run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await micro.run();
  return Number(process.hrtime.bigint() - started) / 1e3 / calls;
}

async function main(): Promise<void> {
  const flags = new Flags(process.argv.slice(2), ["only", "calls"]);
  const only = flags.list("only", []);
  const calls = flags.integer("calls", 200_000, 1);
  const micros = [interceptorMicro(), cacheHitMicro(), validationMicro(), ...encodingMicros()].filter(
    (micro) => only.length === 0 || only.some((name) => micro.name.includes(name)),
  );
  for (const micro of micros) {
    const micros = await timeMicro(micro, calls);
    process.stdout.write(`${micros.toFixed(2).padStart(8)} µs  ${micro.name}\n`);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`micro failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
