import { constants, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import { Server as NetServer, type Socket } from "node:net";
import type { Server } from "@grpc/grpc-js";
import type { ConnectionLimits } from "../config";

/** gRPC's own (max_ping_strikes in C core and Go): the third ping too soon closes the connection. */
const MAX_PING_STRIKES = 2;
/** What gRPC clients look for in the GOAWAY, to ping half as often from then on. */
const TOO_MANY_PINGS = Buffer.from("too_many_pings");

/**
 * The limits grpc-js has no option for, applied to the connections the
 * server accepts and to the HTTP/2 session grpc-js makes of each: a deadline
 * for the client's HTTP/2 preface, and gRPC's keepalive enforcement. It also
 * hands each call's HTTP/2 stream to the interceptor that ends stalled ones.
 */
export class ConnectionGuard {
  /** Connections, by peer address, whose client has not yet sent its preface. */
  private readonly handshakes = new Map<string, NodeJS.Timeout>();
  private arriving: ServerHttp2Stream | undefined;

  constructor(private readonly limits: ConnectionLimits) {}

  /** Starts the handshake clock of a connection just accepted: it ends with the client's first SETTINGS, or the connection. */
  accepted(socket: Socket): void {
    const peer = peerOf(socket);
    if (peer === undefined) return; // already gone
    const deadline = setTimeout(() => socket.destroy(), this.limits.handshakeTimeoutMs).unref();
    this.handshakes.set(peer, deadline);
    socket.once("close", () => {
      clearTimeout(deadline);
      // A later connection from the same port may have taken the entry already.
      if (this.handshakes.get(peer) === deadline) this.handshakes.delete(peer);
    });
  }

  /** Watches every HTTP/2 session `http2Server` makes. */
  watchSessionsOf(http2Server: NetServer): void {
    http2Server.on("session", (session: ServerHttp2Session) => this.watch(session));
  }

  /**
   * The HTTP/2 stream grpc-js is making a call of, when asked from an
   * interceptor: grpc-js builds a call's interceptors synchronously, from the
   * session's 'stream' event. Handed out once.
   */
  takeArrivingStream(): ServerHttp2Stream | undefined {
    const stream = this.arriving;
    this.arriving = undefined;
    return stream;
  }

  private watch(session: ServerHttp2Session): void {
    const peer = peerOf(session.socket);
    if (peer !== undefined) session.once("remoteSettings", () => this.handshakeDone(peer));
    const pings = new PingPolicy(this.limits.keepaliveMinTimeMs);
    // Around Node's own listener, which has grpc-js make the call.
    session.prependListener("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      this.arriving = stream;
      quotingMalformedTimeoutCut(headers);
    });
    session.on("stream", (stream: ServerHttp2Stream) => {
      this.arriving = undefined;
      pings.callStarted(stream);
    });
    session.on("ping", () => {
      if (pings.tooMany()) closeForTooManyPings(session);
    });
  }

  private handshakeDone(peer: string): void {
    clearTimeout(this.handshakes.get(peer));
    this.handshakes.delete(peer);
  }
}

/**
 * gRPC's keepalive enforcement, as C core and Go apply it: a ping sooner than
 * `minTimeMs` after the previous one is a strike, unless a call is open (C
 * core and Go forgive pings while they send data; a call open stands in for
 * that here), and a new call forgives the strikes so far.
 */
class PingPolicy {
  private openCalls = 0;
  private strikes = 0;
  private lastPingMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly minTimeMs: number) {}

  callStarted(stream: ServerHttp2Stream): void {
    this.openCalls += 1;
    this.strikes = 0;
    stream.once("close", () => (this.openCalls -= 1));
  }

  /** Counts a ping; true once the client has pinged too often. */
  tooMany(): boolean {
    const now = performance.now();
    if (this.openCalls === 0 && now - this.lastPingMs < this.minTimeMs) this.strikes += 1;
    this.lastPingMs = now;
    return this.strikes > MAX_PING_STRIKES;
  }
}

function closeForTooManyPings(session: ServerHttp2Session): void {
  session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, session.state.lastProcStreamID ?? 0, TOO_MANY_PINGS);
  session.destroy();
}

/** A live connection's peer, as both its TCP socket and the TLS socket over it give it. */
function peerOf(socket: Pick<Socket, "remoteAddress" | "remotePort">): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined ? undefined : `${remoteAddress}:${remotePort}`;
}

/**
 * The HTTP/2 server grpc-js made since `before` was taken, for a listener or a
 * connection injector. grpc-js keeps them private, and they are the one way to
 * the HTTP/2 session of each connection; a grpc-js that keeps them elsewhere
 * fails here, at start-up, rather than serving without the limits.
 */
export function newHttp2Server(server: Server, before: ReadonlySet<NetServer>): NetServer {
  const created = http2ServersOf(server).filter((candidate) => !before.has(candidate));
  const [http2Server] = created;
  if (http2Server === undefined || created.length > 1) {
    throw new Error(`expected grpc-js to make one HTTP/2 server, found ${created.length}: the connection limits cannot watch its sessions`);
  }
  return http2Server;
}

export function http2ServersOf(server: Server): NetServer[] {
  const servers: unknown = Reflect.get(server, "http2Servers");
  if (!(servers instanceof Map)) {
    throw new Error("@grpc/grpc-js no longer keeps its HTTP/2 servers in http2Servers: the connection limits cannot watch its sessions");
  }
  const candidates: Iterable<unknown> = servers.keys();
  return [...candidates].filter((candidate): candidate is NetServer => candidate instanceof NetServer);
}

/** How grpc-js tells a grpc-timeout it can read (unanchored, as it matches). */
const READABLE_TIMEOUT = /(\d{1,8})\s*([HMSmun])/;
/** Characters of a malformed header kept. */
const KEPT_CHARACTERS = 48;

/**
 * grpc-js answers a grpc-timeout it cannot read INTERNAL, below the
 * interceptors, quoting the header whole (tens of kilobytes fit). The
 * headers object it reads is this one, so such a value is cut before it gets
 * there, in ASCII: gRPC metadata drops any other value.
 */
function quotingMalformedTimeoutCut(headers: IncomingHttpHeaders): void {
  const timeout = headers["grpc-timeout"];
  if (typeof timeout !== "string" || timeout.length <= KEPT_CHARACTERS || READABLE_TIMEOUT.test(timeout)) return;
  headers["grpc-timeout"] = `${timeout.slice(0, KEPT_CHARACTERS)}... (${timeout.length} characters)`;
}
