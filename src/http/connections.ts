import type { Socket } from "node:net";

/** The HTTP/2 connection preface: what a client speaking HTTP/2 without TLS (h2c, prior knowledge) sends first. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Calls `route` with whether a plaintext connection speaks HTTP/2 (h2c) or
 * HTTP/1.1, from its first bytes, which stay in the socket for the server it
 * is handed to. Without TLS there is no ALPN to ask: this is how one port
 * serves both (curl and browsers speak HTTP/1.1, Connect's Node clients
 * HTTP/2). A client that sends nothing for `timeoutMs` is dropped.
 */
export function sniffHttpVersion(socket: Socket, timeoutMs: number, route: (http2: boolean) => void): void {
  const deadline = setTimeout(() => socket.destroy(), timeoutMs).unref();
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, HTTP2_PREFACE.length);
    const matches = seen.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (matches && compared < HTTP2_PREFACE.length) return; // too short to tell yet
    socket.off("data", onData);
    socket.off("close", onClose);
    clearTimeout(deadline);
    socket.pause();
    socket.unshift(seen);
    route(matches);
  };
  const onClose = (): void => clearTimeout(deadline);
  socket.on("data", onData);
  socket.once("close", onClose);
}

/** Open connections, so that a stop can drop the ones still open at its end. */
export class OpenSockets {
  private readonly sockets = new Set<Socket>();

  track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/** Calls being answered, so that a stop can wait for them, then end those that outlast it. */
export class OpenCalls<Call> {
  private readonly calls = new Set<Call>();
  private waiters: Array<() => void> = [];

  opened(call: Call): void {
    this.calls.add(call);
  }

  closed(call: Call): void {
    this.calls.delete(call);
    if (this.calls.size > 0) return;
    for (const wake of this.waiters) wake();
    this.waiters = [];
  }

  get open(): Iterable<Call> {
    return this.calls;
  }

  /** Resolves true once no call is open, or false after `timeoutMs`. */
  none(timeoutMs: number): Promise<boolean> {
    if (this.calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
