import {
  type handleUnaryCall,
  type Server,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { Health } from "../../gen/grpc/health/v1/health_pb";
import { cutText, MAX_ECHOED_CHARACTERS, quoteClientValue } from "../client-text";
import { NotFoundError } from "../errors";
import type { Logger } from "../logger";
import { toServiceError } from "./status";

/** grpc-health-check's requests and responses, as its proto-loader definition reads and writes them. */
interface HealthRequest {
  service: string;
}
type CheckHandler = handleUnaryCall<HealthRequest, { status: ServingStatus }>;
type WatchCall = ServerWritableStream<HealthRequest, { status: ServingStatus | "SERVICE_UNKNOWN" }>;

export interface HealthMonitorOptions {
  /** Service names reported besides "" (the whole server). */
  services: readonly string[];
  /** True when the database answers; run periodically and on demand. */
  probe: () => boolean | Promise<boolean>;
  intervalMs: number;
  logger: Logger;
  /** Called after every probe, e.g. to record its latency. */
  onProbe?: (healthy: boolean, seconds: number) => void;
}

/**
 * Drives grpc.health.v1 from a database probe: SERVING while the database
 * answers, NOT_SERVING while it does not and from shutdown on. Watch streams
 * see every change because grpc-health-check pushes each setStatus to them.
 */
export class HealthMonitor {
  readonly implementation: HealthImplementation;
  private timer: NodeJS.Timeout | undefined;
  private status: ServingStatus = "NOT_SERVING";
  private shuttingDown = false;
  /** Watch streams open now: shutdown ends them, since they never end on their own. */
  private readonly watches = new Set<WatchCall>();
  /** What the last probe found; the database was just opened, so true until one says otherwise. */
  private reachable = true;

  constructor(private readonly options: HealthMonitorOptions) {
    this.implementation = new HealthImplementation(this.statusMap("NOT_SERVING"));
  }

  /**
   * Serves grpc.health.v1 on `server`. grpc-health-check keeps an entry for
   * every service name a Watch has asked about, for good: any client could
   * grow it without bound. A Watch of a service this server does not report is
   * answered SERVICE_UNKNOWN here instead, and leaves nothing once it ends.
   * A Check of one is answered NOT_FOUND here too: the library's message
   * repeats the name whole, however long.
   */
  addToServer(server: Server, onUndecodableRequest?: (method: DescMethod, error: unknown) => void): void {
    const reported = new Set(["", ...this.options.services]);
    this.implementation.addToServer({
      addService: (service, handlers: UntypedServiceImplementation) => {
        const libraryCheck = handlers.check as CheckHandler | undefined;
        const libraryWatch = handlers.watch as ((call: WatchCall) => void) | undefined;
        if (libraryCheck === undefined || libraryWatch === undefined) {
          throw new Error("grpc-health-check served no Check or no Watch");
        }
        const check: CheckHandler = (call, callback) => {
          if (reported.has(call.request.service)) libraryCheck(call, callback);
          else callback(unknownService(call.request.service));
        };
        const watch = (call: WatchCall): void =>
          this.watch(call, reported.has(call.request.service) ? libraryWatch : undefined);
        server.addService(noticingUndecodable(service, onUndecodableRequest), { ...handlers, check, watch });
      },
    });
  }

  /** Starts a Watch through `libraryWatch` for a reported service; any other is SERVICE_UNKNOWN. */
  private watch(call: WatchCall, libraryWatch: ((call: WatchCall) => void) | undefined): void {
    if (this.shuttingDown) {
      call.end();
      return;
    }
    this.watches.add(call);
    call.on("cancelled", () => this.watches.delete(call));
    if (libraryWatch === undefined) call.write({ status: "SERVICE_UNKNOWN" });
    else libraryWatch(call);
  }

  /** Starts probing; resolves once the first probe has published its answer, so a started server never says NOT_SERVING for want of one. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
    await this.check();
  }

  /** False from a probe that found the database unreachable until one finds it again. */
  get databaseReachable(): boolean {
    return this.reachable;
  }

  /** Probes now and publishes the result; returns whether the database is healthy. */
  async check(): Promise<boolean> {
    const started = process.hrtime.bigint();
    const healthy = await this.options.probe();
    this.reachable = healthy;
    this.options.onProbe?.(healthy, Number(process.hrtime.bigint() - started) / 1e9);
    if (!this.shuttingDown) this.publish(healthy ? "SERVING" : "NOT_SERVING");
    return healthy;
  }

  /**
   * NOT_SERVING for good: the server is going away. Watchers get that status,
   * then their streams end with OK, so they do not hold shutdown for its whole
   * grace period.
   */
  shutdown(): void {
    this.shuttingDown = true;
    clearInterval(this.timer);
    this.publish("NOT_SERVING");
    for (const call of this.watches) call.end();
    this.watches.clear();
  }

  private publish(status: ServingStatus): void {
    if (status === this.status) return;
    this.options.logger.info({ health: status }, `health is now ${status}`);
    this.status = status;
    for (const service of ["", ...this.options.services]) this.implementation.setStatus(service, status);
  }

  private statusMap(status: ServingStatus): Record<string, ServingStatus> {
    return Object.fromEntries(["", ...this.options.services].map((service) => [service, status]));
  }
}

function unknownService(name: string): ServiceError {
  const resource = { type: "grpc.health.v1 service name", name: cutText(name, MAX_ECHOED_CHARACTERS) };
  const message = `Health status unknown for service ${quoteClientValue(name)}`;
  return toServiceError(new NotFoundError(message, { reason: "SERVICE_NOT_FOUND", resource }));
}

/**
 * The library's service with each request decoder telling `notice` of a body
 * that does not decode (grpc-js answers it INTERNAL), as the adapter's do.
 */
function noticingUndecodable(service: ServiceDefinition, notice: ((method: DescMethod, error: unknown) => void) | undefined): ServiceDefinition {
  if (notice === undefined) return service;
  const methods = Object.entries(service).map(([name, definition]: [string, ServiceDefinition[string]]) => {
    const method = Health.methods.find((candidate) => candidate.name === name);
    if (method === undefined) return [name, definition] as const;
    const requestDeserialize = (bytes: Buffer): unknown => {
      try {
        return definition.requestDeserialize(bytes);
      } catch (error) {
        notice(method, error);
        throw error;
      }
    };
    return [name, { ...definition, requestDeserialize }] as const;
  });
  return Object.fromEntries(methods);
}

