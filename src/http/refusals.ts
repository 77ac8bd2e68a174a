import { status } from "@grpc/grpc-js";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, codeFromString, endStreamFlag } from "@connectrpc/connect/protocol-connect";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { boundedMessage } from "../client-text";
import type { RpcProtocol } from "../grpc/rpc-metrics";

/** The compressions the HTTP door accepts, and so may answer with. */
export const COMPRESSIONS = [compressionGzip, compressionBrotli];

const COMPRESSED_FLAG = 0b1;
/** A message envelope's header: its flags, then its length in 32 bits. */
const ENVELOPE_HEADER_BYTES = 5;
/** What decompressing a refusal may take: it holds at most the request it refuses, and its status. */
const MAX_REFUSAL_BYTES = 8 * 1024 * 1024;

/** A refusal as it goes to the client, and its code, for the call's log line and metrics. */
export interface Refusal {
  readonly answer: UniversalServerResponse;
  readonly code: status;
}

/**
 * An answer Connect wrote itself, before any handler ran: a request it could
 * not read (a body that does not decode, a malformed timeout). Connect's
 * message may repeat the client's value whole, so the message is cut to
 * 1 KiB here, as every status message of this service is (src/client-text.ts),
 * and the answer goes out uncompressed. The code is read on the way: the HTTP
 * status and JSON error of a Connect unary call, or the last envelope of a
 * stream (gRPC-Web's trailer, Connect's end of stream).
 */
export async function boundedRefusal(protocol: RpcProtocol, answer: UniversalServerResponse): Promise<Refusal> {
  const body = answer.body === undefined ? new Uint8Array() : await readAll(answer.body);
  const header = new Headers(answer.header);
  if (answer.status !== 200) return refusedUnary(answer, header, await decompressed(body, header, "content-encoding"));
  const encodingHeader = protocol === "grpc-web" ? "grpc-encoding" : "connect-content-encoding";
  const envelope = await lastEnvelope(body, header, encodingHeader);
  if (envelope === undefined) return { answer: { ...answer, header, body: single(body) }, code: status.UNKNOWN };
  const { flags, payload, before } = envelope;
  const rewritten = (flags & trailerFlag) !== 0 && protocol === "grpc-web" ? boundedTrailer(payload) : boundedEndStream(flags, payload);
  const code = rewritten?.code ?? status.OK;
  const bytes = rewritten === undefined ? body : Buffer.concat([before, enveloped(flags, rewritten.payload)]);
  return { answer: { ...answer, header, body: single(bytes) }, code };
}

function refusedUnary(answer: UniversalServerResponse, header: Headers, body: Uint8Array): Refusal {
  const fallback = codeFromHttpStatus(answer.status).valueOf();
  const error = parsedJson(body);
  const message = error?.message;
  const bytes = error !== undefined && typeof message === "string" ? Buffer.from(JSON.stringify({ ...error, message: boundedMessage(message) })) : body;
  header.set("content-length", String(bytes.length));
  const code = typeof error?.code === "string" ? (codeFromString(error.code)?.valueOf() ?? fallback) : fallback;
  return { answer: { ...answer, header, body: single(bytes) }, code };
}

/** Connect's end of stream: `{"error": {"code": …, "message": …}}`, or `{}` for OK. */
function boundedEndStream(flags: number, payload: Uint8Array): { code: status; payload: Uint8Array } | undefined {
  if ((flags & endStreamFlag) === 0) return undefined;
  const end = parsedJson(payload);
  const error = end?.error;
  if (typeof error !== "object" || error === null || Array.isArray(error)) return { code: status.OK, payload };
  const { code, message } = error as Record<string, unknown>;
  const bounded = typeof message === "string" ? { ...error, message: boundedMessage(message) } : error;
  const codeNumber = typeof code === "string" ? (codeFromString(code)?.valueOf() ?? status.UNKNOWN) : status.UNKNOWN;
  return { code: codeNumber, payload: Buffer.from(JSON.stringify({ ...end, error: bounded })) };
}

/** gRPC-Web's trailer: HTTP/1-style lines, grpc-message percent-encoded. */
function boundedTrailer(payload: Uint8Array): { code: status; payload: Uint8Array } {
  const trailer = trailerParse(payload);
  const message = trailer.get("grpc-message");
  if (message !== null) trailer.set("grpc-message", encodeURIComponent(boundedMessage(safelyDecoded(message))));
  return { code: Number(trailer.get("grpc-status") ?? status.UNKNOWN), payload: trailerSerialize(trailer) };
}

interface Envelope {
  readonly flags: number;
  readonly payload: Uint8Array;
  /** The envelopes before it, as they were. */
  readonly before: Uint8Array;
}

/** The last envelope of `body`, decompressed (the header naming its compression removed). */
async function lastEnvelope(body: Uint8Array, header: Headers, encodingHeader: string): Promise<Envelope | undefined> {
  let offset = 0;
  let last: { start: number; flags: number; payload: Uint8Array } | undefined;
  while (offset + ENVELOPE_HEADER_BYTES <= body.length) {
    const flags = body[offset] ?? 0;
    const length = Buffer.from(body.buffer, body.byteOffset + offset + 1, 4).readUInt32BE(0);
    const payload = body.subarray(offset + ENVELOPE_HEADER_BYTES, offset + ENVELOPE_HEADER_BYTES + length);
    last = { start: offset, flags, payload };
    offset += ENVELOPE_HEADER_BYTES + length;
  }
  if (last === undefined) return undefined;
  const compressed = (last.flags & COMPRESSED_FLAG) !== 0;
  const payload = compressed ? await decompressed(last.payload, header, encodingHeader) : last.payload;
  return { flags: last.flags & ~COMPRESSED_FLAG, payload, before: body.subarray(0, last.start) };
}

async function decompressed(bytes: Uint8Array, header: Headers, encodingHeader: string): Promise<Uint8Array> {
  const name = header.get(encodingHeader);
  if (name === null) return bytes;
  const compression = COMPRESSIONS.find((candidate) => candidate.name === name);
  if (compression === undefined) return bytes;
  header.delete(encodingHeader);
  return compression.decompress(bytes, MAX_REFUSAL_BYTES);
}

function enveloped(flags: number, payload: Uint8Array): Uint8Array {
  const envelope = Buffer.alloc(ENVELOPE_HEADER_BYTES + payload.length);
  envelope.writeUInt8(flags, 0);
  envelope.writeUInt32BE(payload.length, 1);
  envelope.set(payload, ENVELOPE_HEADER_BYTES);
  return envelope;
}

function parsedJson(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function safelyDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}
