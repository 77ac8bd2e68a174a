import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import type { Logger } from "../logger";

export interface HealthMonitorOptions {
  /** Service names reported besides "" (the whole server). */
  services: readonly string[];
  /** True when the database answers; run periodically and on demand. */
  probe: () => boolean;
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
  /** What the last probe found; the database was just opened, so true until one says otherwise. */
  private reachable = true;

  constructor(private readonly options: HealthMonitorOptions) {
    this.implementation = new HealthImplementation(this.statusMap("NOT_SERVING"));
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  /** False from a probe that found the database unreachable until one finds it again. */
  get databaseReachable(): boolean {
    return this.reachable;
  }

  /** Probes now and publishes the result; returns whether the database is healthy. */
  check(): boolean {
    const started = process.hrtime.bigint();
    const healthy = this.options.probe();
    this.reachable = healthy;
    this.options.onProbe?.(healthy, Number(process.hrtime.bigint() - started) / 1e9);
    if (!this.shuttingDown) this.publish(healthy ? "SERVING" : "NOT_SERVING");
    return healthy;
  }

  /** NOT_SERVING for good: the server is going away. */
  shutdown(): void {
    this.shuttingDown = true;
    clearInterval(this.timer);
    this.publish("NOT_SERVING");
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
