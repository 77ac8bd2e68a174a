import type * as http from "node:http";
import type * as http2 from "node:http2";
import { status } from "@grpc/grpc-js";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { ObservedRpc, RpcObserver } from "../grpc/interceptors";
import type { RpcProtocol } from "../grpc/rpc-metrics";
import type { Logger } from "../logger";
import { REQUEST_ID_KEY } from "../request-context";
import { boundedRefusal } from "./refusals";
import { CALL_OUTCOME, type CallOutcome } from "./routes";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** What connect-node's functions take: the same objects, typed its way. */
type ConnectNodeResponse = Parameters<typeof universalResponseToNodeResponse>[1];

const GRPC_WEB_CONTENT_TYPE = /^application\/grpc-web/i;

/**
 * How long a call told its status (a deadline passed, the server is
 * stopping) has to send it; one whose client reads nothing cannot, and is
 * dropped then.
 */
export const STATUS_SEND_MS = 250;

/**
 * One call through the HTTP door, from request to answer: observed as the
 * gRPC door's calls are (counted, timed, logged under its protocol, its
 * request id echoed in `x-request-id`, its handler run in the request's
 * context), answered by Connect's handler for its method.
 */
export class RpcExchange {
  private readonly outcome: CallOutcome = { handled: false, code: undefined };
  private protocol: RpcProtocol = "connect";
  private finished = false;
  private closed = false;
  /** Why the server dropped the call, as its code: its client took nothing for the stall timeout, or outlasted a stop. */
  private droppedWith: status | undefined;
  /** The code of an answer Connect wrote without running the handler. */
  private refusalCode: status | undefined;

  constructor(
    private readonly handler: UniversalHandler,
    private readonly request: NodeRequest,
    private readonly response: NodeResponse,
    private readonly rpcs: RpcObserver,
    private readonly logger: Logger,
  ) {}

  run(): void {
    const { request, response } = this;
    let universal: UniversalServerRequest;
    try {
      const values = createContextValues().set(CALL_OUTCOME, this.outcome);
      universal = universalRequestFromNodeRequest(request, response as ConnectNodeResponse, undefined, values);
    } catch {
      // No Host header (HTTP/1.0): Connect cannot tell the request's URL.
      response.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      response.end("a Host header is required\n");
      return;
    }
    this.protocol = protocolOf(universal.header.get("content-type"));
    const call = this.rpcs.observe(this.handler.method, this.protocol, universal.header, peerOf(request));
    this.outcome.messageSent = () => call.messageSent();
    this.outcome.requestId = call.context.requestId;
    response.setHeader(REQUEST_ID_KEY, call.context.requestId);
    response.once("finish", () => (this.finished = true));
    response.once("close", () => this.end(call));
    call.run(() => void this.answer(universal));
  }

  /**
   * Resets the call, logged and counted with `code`: RESOURCE_EXHAUSTED when
   * its client took nothing for the stall timeout, UNAVAILABLE when it
   * outlasted a stop. Its status could not overtake the data the client is
   * not reading anyway.
   */
  dropped(code: status): void {
    if (this.closed) return;
    this.droppedWith = code;
    this.response.destroy();
  }

  private async answer(universal: UniversalServerRequest): Promise<void> {
    try {
      const answer = await this.handler(universal);
      this.endingAtDeadline(this.outcome.signal);
      await universalResponseToNodeResponse(this.outcome.handled ? answer : await this.refusal(answer), this.response as ConnectNodeResponse);
    } catch (error) {
      // The client left mid-answer, or its connection broke: nothing more can reach it.
      this.logger.debug({ err: error, method: this.handler.requestPath }, "HTTP answer not completed");
      if (!this.closed) this.response.destroy();
    }
  }

  /** As on the gRPC door, a stream ends at its deadline, even while its client reads nothing. */
  private endingAtDeadline(signal: AbortSignal | undefined): void {
    const onAbort = (): void => {
      const { reason } = signal as { reason: unknown };
      if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) {
        setTimeout(() => this.dropped(status.DEADLINE_EXCEEDED), STATUS_SEND_MS).unref();
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  }

  private end(call: ObservedRpc): void {
    this.closed = true;
    call.finish(this.code());
  }

  private code(): status {
    if (this.droppedWith !== undefined) return this.droppedWith;
    if (!this.finished) return status.CANCELLED;
    if (this.outcome.code !== undefined) return this.outcome.code;
    return this.refusalCode ?? status.UNKNOWN;
  }

  private async refusal(answer: UniversalServerResponse): Promise<UniversalServerResponse> {
    const refusal = await boundedRefusal(this.protocol, answer);
    this.refusalCode = refusal.code;
    return refusal.answer;
  }
}

function protocolOf(contentType: string | null): RpcProtocol {
  return contentType !== null && GRPC_WEB_CONTENT_TYPE.test(contentType) ? "grpc-web" : "connect";
}

function peerOf(request: NodeRequest): string {
  const { remoteAddress, remotePort } = request.socket;
  return remoteAddress === undefined ? "unknown" : `${remoteAddress}:${remotePort ?? 0}`;
}
