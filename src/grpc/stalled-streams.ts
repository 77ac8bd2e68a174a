import { constants, type ServerHttp2Stream } from "node:http2";
import { ServerInterceptingCall, type ServerInterceptingCallInterface, type ServerInterceptor } from "@grpc/grpc-js";
import { ResourceExhaustedError } from "../errors";
import { toServiceError } from "./status";

/**
 * Ends each server stream whose client accepts none of a message for
 * `timeoutMs`: its buffers would otherwise be held for as long as the
 * client keeps the connection. grpc-js hands a stream its messages one at a
 * time, each once the previous one is out within the HTTP/2 flow-control
 * window, so a message still waiting `timeoutMs` after it was handed over
 * means the client took nothing in that time.
 *
 * The call ends RESOURCE_EXHAUSTED (reason STREAM_STALLED), the status gRPC
 * gives a flow-control resource limit: the interceptors inside this one log
 * and count it. Its trailers cannot overtake the data the client is not
 * reading, so the stream is then reset with ENHANCE_YOUR_CALM, which frees
 * what it holds and which gRPC clients report as RESOURCE_EXHAUSTED too. The
 * outermost interceptor: the status it sends passes all the others.
 */
export function endingStalledStreams(timeoutMs: number, arrivingStream: () => ServerHttp2Stream | undefined): ServerInterceptor {
  return (definition, next) => {
    const stream = arrivingStream();
    if (!definition.responseStream || stream === undefined) return asIs(next);
    return new StallWatch(next, stream, timeoutMs).call;
  };
}

/** `call` itself when it is already what an interceptor returns, as it is below the outermost: one layer less per call. */
function asIs(call: ServerInterceptingCallInterface): ServerInterceptingCall {
  return call instanceof ServerInterceptingCall ? call : new ServerInterceptingCall(call);
}

class StallWatch {
  readonly call: ServerInterceptingCall;
  private readonly timer: NodeJS.Timeout;

  constructor(
    next: ServerInterceptingCallInterface,
    private readonly stream: ServerHttp2Stream,
    private readonly timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.check(), timeoutMs).unref();
    this.call = new ServerInterceptingCall(next, {
      start: (startNext) => startNext({ onCancel: () => this.stop() }),
      sendMessage: (message, sendNext) => {
        this.timer.refresh();
        sendNext(message);
      },
      sendStatus: (callStatus, sendNext) => {
        this.stop();
        sendNext(callStatus);
      },
    });
  }

  private check(): void {
    // Nothing waiting: the handler has nothing to send yet (a health Watch); its next message restarts the clock.
    if (this.stream.bufferSize === 0) return;
    const { code, details, metadata } = toServiceError(stalled(this.timeoutMs));
    this.call.sendStatus({ code, details, metadata });
    this.stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }

  private stop(): void {
    clearTimeout(this.timer);
  }
}

function stalled(timeoutMs: number): ResourceExhaustedError {
  return new ResourceExhaustedError(`the client accepted nothing of this stream for ${timeoutMs} ms`, {
    subject: "GRPC_STREAM_STALL_TIMEOUT_MS",
    description: `${timeoutMs} ms without the client accepting a message`,
  });
}
