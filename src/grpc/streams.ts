import type { ServerWritableStream } from "@grpc/grpc-js";

/**
 * Writes every message `messages` yields, honouring backpressure: while
 * grpc-js's buffer has room (`write` returns true) the next message follows
 * at once, with no promise of its own; once it is full, waits for 'drain'.
 * Stops once the client has cancelled, which also ends `messages` (its
 * `return()` runs), so the producer stops instead of waiting forever.
 */
export async function writeAll<Req, Res>(call: ServerWritableStream<Req, Res>, messages: AsyncIterable<Res>): Promise<void> {
  for await (const message of messages) {
    if (call.cancelled) return;
    if (!call.write(message) && !(await drained(call))) return;
  }
}

/** Resolves true on 'drain', false once the client has cancelled. */
function drained<Req, Res>(call: ServerWritableStream<Req, Res>): Promise<boolean> {
  if (call.cancelled) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onDrain = () => settle(true);
    const onCancel = () => settle(false);
    const settle = (writable: boolean) => {
      call.off("drain", onDrain);
      call.off("cancelled", onCancel);
      resolve(writable);
    };
    call.on("drain", onDrain);
    call.on("cancelled", onCancel);
  });
}

/** A cancelled call is destroyed and never drains: wait for either. */
export function drainedOrClosed(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const settle = () => {
      stream.off("drain", settle);
      stream.off("close", settle);
      resolve();
    };
    stream.on("drain", settle);
    stream.on("close", settle);
  });
}
