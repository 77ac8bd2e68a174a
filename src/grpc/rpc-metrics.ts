import { status, type ServerMethodDefinition } from "@grpc/grpc-js";
import type { DescMethod } from "@bufbuild/protobuf";
import { Counter, Histogram, type Registry } from "prom-client";

/** One served method, labelled as Go's grpc-prometheus labels it. */
export interface RpcMethod {
  /** `/chinook.v1.CustomerService/GetCustomer` */
  readonly path: string;
  readonly service: string;
  readonly name: string;
  readonly type: "unary" | "client_stream" | "server_stream" | "bidi_stream";
}

/** The wire protocol a call came in with: native gRPC (the gRPC door), or Connect or gRPC-Web (the HTTP door). */
export type RpcProtocol = "grpc" | "connect" | "grpc-web";

type MethodLabel = "grpc_type" | "grpc_service" | "grpc_method" | "protocol";

/**
 * Go's `codes.Code.String()` spelling: existing grpc-prometheus dashboards
 * filter on these (`grpc_code!="OK"`, `grpc_code="NotFound"`).
 */
const GO_CODE_NAMES: Record<status, string> = {
  [status.OK]: "OK",
  [status.CANCELLED]: "Canceled",
  [status.UNKNOWN]: "Unknown",
  [status.INVALID_ARGUMENT]: "InvalidArgument",
  [status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [status.NOT_FOUND]: "NotFound",
  [status.ALREADY_EXISTS]: "AlreadyExists",
  [status.PERMISSION_DENIED]: "PermissionDenied",
  [status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [status.FAILED_PRECONDITION]: "FailedPrecondition",
  [status.ABORTED]: "Aborted",
  [status.OUT_OF_RANGE]: "OutOfRange",
  [status.UNIMPLEMENTED]: "Unimplemented",
  [status.INTERNAL]: "Internal",
  [status.UNAVAILABLE]: "Unavailable",
  [status.DATA_LOSS]: "DataLoss",
  [status.UNAUTHENTICATED]: "Unauthenticated",
};

/**
 * The method a call was routed to. grpc-js answers unregistered paths with
 * UNIMPLEMENTED before any interceptor runs, so every label value here comes
 * from a registered method: cardinality is bounded by the services served.
 */
export function rpcMethodOf(definition: ServerMethodDefinition<unknown, unknown>): RpcMethod {
  const [service = "", name = ""] = definition.path.replace(/^\//, "").split("/");
  return { path: definition.path, service, name, type: callType(definition) };
}

/** The method a call to the HTTP door was routed to: Connect's router only routes registered methods too. */
export function rpcMethodOfDescriptor(method: DescMethod): RpcMethod {
  const service = method.parent.typeName;
  const type = { unary: "unary", server_streaming: "server_stream", client_streaming: "client_stream", bidi_streaming: "bidi_stream" } as const;
  return { path: `/${service}/${method.name}`, service, name: method.name, type: type[method.methodKind] };
}

function callType({ requestStream, responseStream }: ServerMethodDefinition<unknown, unknown>): RpcMethod["type"] {
  if (requestStream) return responseStream ? "bidi_stream" : "client_stream";
  return responseStream ? "server_stream" : "unary";
}

/** One method's series: label children resolved once, so a call builds no label objects. */
export interface MethodMetrics {
  started(): void;
  handled(code: status, seconds: number): void;
}

/** The server metrics of Go's grpc-prometheus, with its names and labels, and the protocol's. */
export class RpcMetrics {
  private readonly startedTotal: Counter<MethodLabel>;
  private readonly handledTotal: Counter<MethodLabel | "grpc_code">;
  private readonly handlingSeconds: Histogram<MethodLabel>;

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = ["grpc_type", "grpc_service", "grpc_method", "protocol"] as const;
    this.startedTotal = new Counter({
      name: "grpc_server_started_total",
      help: "Total number of RPCs started on the server.",
      labelNames,
      registers,
    });
    this.handledTotal = new Counter({
      name: "grpc_server_handled_total",
      help: "Total number of RPCs completed on the server, regardless of success or failure.",
      labelNames: [...labelNames, "grpc_code"],
      registers,
    });
    // prom-client's default buckets are Prometheus' DefBuckets, as in Go.
    this.handlingSeconds = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
      labelNames,
      registers,
    });
  }

  /** Call once per method and protocol, and keep the result. */
  forMethod(method: RpcMethod, protocol: RpcProtocol = "grpc"): MethodMetrics {
    const labels = [method.type, method.service, method.name, protocol] as const;
    const started = this.startedTotal.labels(...labels);
    const handling = this.handlingSeconds.labels(...labels);
    const handledByCode = new Map<status, Counter.Internal>();
    const handledWith = (code: status): Counter.Internal => {
      let handled = handledByCode.get(code);
      if (handled === undefined) {
        handled = this.handledTotal.labels(...labels, goCodeName(code));
        handledByCode.set(code, handled);
      }
      return handled;
    };
    return {
      started: () => started.inc(),
      handled: (code, seconds) => {
        handledWith(code).inc();
        handling.observe(seconds);
      },
    };
  }
}

/** Codes outside the 17 defined ones collapse into Unknown, keeping the label bounded. */
function goCodeName(code: status): string {
  return GO_CODE_NAMES[code] ?? GO_CODE_NAMES[status.UNKNOWN];
}
