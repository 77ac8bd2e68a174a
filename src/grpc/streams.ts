import type { ServerWritableStream } from "@grpc/grpc-js";

/**
 * Messages written before waiting for them to be out: grpc-js writes one at a
 * time and keeps the others (up to 16 before `write` says to wait), so that it
 * can follow each with the next at once.
 */
const RUN = 8;

/**
 * Writes every message `messages` yields, in runs of RUN: the last of a run
 * is awaited until grpc-js has written it out, within the client's HTTP/2
 * flow-control window, and so every one before it. A client that reads
 * nothing thus holds at most one run here. Stops once the client has
 * cancelled, which also ends `messages` (its `return()` runs), so the
 * producer stops instead of waiting forever.
 */
export async function writeAll<Req, Res>(call: ServerWritableStream<Req, Res>, messages: AsyncIterable<Res>): Promise<void> {
  let unawaited = 0;
  for await (const message of messages) {
    if (call.cancelled) return;
    if (unawaited < RUN - 1) {
      call.write(message);
      unawaited += 1;
    } else {
      unawaited = 0;
      if (!(await writtenOut(call, message))) return;
    }
  }
}

/** Resolves true once `message` is written out, false once the client has cancelled. */
function writtenOut<Req, Res>(call: ServerWritableStream<Req, Res>, message: Res): Promise<boolean> {
  return new Promise((resolve) => {
    const onCancel = () => settle(false);
    const settle = (out: boolean) => {
      call.off("cancelled", onCancel);
      resolve(out);
    };
    call.on("cancelled", onCancel);
    call.write(message, (error: Error | null | undefined) => settle(error === null || error === undefined));
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
