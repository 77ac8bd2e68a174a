import type { ServerWritableStream } from "@grpc/grpc-js";

/**
 * Writes one message honouring backpressure: when grpc-js's buffer is full
 * (`write` returns false) it waits for 'drain'. Resolves false once the client
 * has cancelled, so the producer stops instead of waiting forever.
 */
export function writeWithBackpressure<Req, Res>(call: ServerWritableStream<Req, Res>, message: Res): Promise<boolean> {
  if (call.cancelled) return Promise.resolve(false);
  if (call.write(message)) return Promise.resolve(true);
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
