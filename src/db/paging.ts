import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { InvalidArgumentError } from "../errors";
import { isInt64 } from "../int64";

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
/** A listing's total_size is an int32. */
export const MAX_TOTAL_SIZE = 2 ** 31 - 1;

/** One value of a keyset cursor: the last row's sort key(s) and id. */
export type CursorValue = string | number | bigint | null;

/**
 * A token is base64url of: this version (one byte; version 1 was unsigned
 * JSON), the signing key's id (uint32, big-endian), the payload (JSON), and
 * an HMAC-SHA256 of all that under the key, truncated to MAC_BYTES.
 */
const TOKEN_VERSION = 2;
const HEADER_BYTES = 5;
/**
 * 128 bits: a forger's guess passes once in 2^128, and each guess costs an
 * RPC. The full 32 bytes would add 22 characters to every token and no
 * protection that matters here.
 */
const MAC_BYTES = 16;
const SECRET_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** AIP-158: 0 means the default, more than the maximum is clamped, negative is an error. */
export function normalizePageSize(pageSize: number): number {
  if (pageSize < 0) throw new InvalidArgumentError("page_size", "must not be negative");
  if (pageSize === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(pageSize, MAX_PAGE_SIZE);
}

/**
 * How many of `items` a page keeps within `budget` (AIP-158 lets a page hold
 * fewer items than asked for): those before the first that would pass it, and
 * always at least one.
 */
export function countWithinBudget<T>(items: readonly T[], budget: number, sizeOf: (item: T) => number): number {
  let used = 0;
  const firstOver = items.findIndex((item) => (used += sizeOf(item)) > budget);
  return firstOver === -1 ? items.length : Math.max(1, firstOver);
}

/** What a page token carries to the next page. */
export interface PageTokenContents {
  cursor: CursorValue[];
  /** The total the listing's first page reported, when it reported one. */
  totalSize: number | undefined;
}

/** A key page tokens are signed with, and the id tokens name it by. */
export interface PageTokenKey {
  /** An unsigned 32-bit integer. */
  readonly id: number;
  /** HMAC-SHA256's key: a KeyObject, which shows no key material when logged or inspected. */
  readonly secret: KeyObject;
}

/**
 * Where the keys that sign and verify page tokens come from: the service's
 * are shared by every process on its database (page-token-keys.ts).
 */
export interface PageTokenKeys {
  /** The key new tokens are signed with. */
  signingKey(): Promise<PageTokenKey>;
  /** The key `id` names while tokens signed with it are accepted; undefined for any other id. */
  verifyingKey(id: number): Promise<PageTokenKey | undefined>;
}

/** `bytes`, random, as an HMAC-SHA256 key. */
export function pageTokenSecret(bytes: Uint8Array): KeyObject {
  return createSecretKey(bytes);
}

/** A new random secret, as stored: as long as SHA-256's output, the least RFC 2104 recommends. */
export function newPageTokenSecret(): Buffer {
  return randomBytes(SECRET_BYTES);
}

/**
 * One random key of this process alone, for the domains built without the
 * database's keys (tests, tools, benchmarks): no other process accepts the
 * tokens it signs. The database's keys are numbered from 1.
 */
class ProcessPageTokenKeys implements PageTokenKeys {
  readonly key: PageTokenKey = { id: 0, secret: pageTokenSecret(newPageTokenSecret()) };

  signingKey(): Promise<PageTokenKey> {
    return Promise.resolve(this.key);
  }

  verifyingKey(id: number): Promise<PageTokenKey | undefined> {
    return Promise.resolve(id === this.key.id ? this.key : undefined);
  }
}

export const PROCESS_PAGE_TOKEN_KEYS = new ProcessPageTokenKeys();

/**
 * An opaque page token: the keyset position after the last row returned (and
 * optionally the listing's total size), bound to the request's filters and
 * order (`binding`, any canonical string of them) so that a token reused with
 * other ones is refused rather than misread, and signed with `key` so that
 * one altered in any way is refused too.
 */
export function encodePageToken(
  binding: string,
  cursor: readonly CursorValue[],
  totalSize?: number,
  key: PageTokenKey = PROCESS_PAGE_TOKEN_KEYS.key,
): string {
  const payload: Payload = { b: digest(binding), k: cursor.map(encodeValue), t: totalSize };
  const signed = Buffer.concat([header(key.id), Buffer.from(JSON.stringify(payload))]);
  return Buffer.concat([signed, macOf(key, signed)]).toString("base64url");
}

/**
 * What a token from encodePageToken carries, once its signature checks out
 * under one of `keys`; INVALID_ARGUMENT for anything else. `boundTo` names,
 * for the client, what the binding holds.
 */
export async function decodePageToken(
  token: string,
  binding: string,
  length: number,
  boundTo: string,
  keys: PageTokenKeys,
): Promise<PageTokenContents> {
  const payload = parse(await authenticated(token, keys));
  if (payload.b !== digest(binding)) throw new InvalidArgumentError("page_token", `was issued for different ${boundTo}`, { reason: "PAGE_TOKEN_INVALID" });
  if (payload.k.length !== length) throw malformed();
  return { cursor: payload.k.map(decodeValue), totalSize: payload.t };
}

type EncodedValue = string | number | null | { i: string };

interface Payload {
  b: string;
  k: EncodedValue[];
  t?: number | undefined;
}

function header(keyId: number): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES);
  bytes.writeUInt8(TOKEN_VERSION, 0);
  bytes.writeUInt32BE(keyId, 1);
  return bytes;
}

function macOf(key: PageTokenKey, signed: Uint8Array): Buffer {
  return createHmac("sha256", key.secret).update(signed).digest().subarray(0, MAC_BYTES);
}

/** The payload of a token whose MAC checks out, compared in constant time. */
async function authenticated(token: string, keys: PageTokenKeys): Promise<Buffer> {
  const bytes = strictBase64url(token);
  if (bytes === undefined || bytes.length < HEADER_BYTES + MAC_BYTES || bytes.readUInt8(0) !== TOKEN_VERSION) throw malformed();
  const key = await keys.verifyingKey(bytes.readUInt32BE(1));
  if (key === undefined) throw new InvalidArgumentError("page_token", "has expired or is not a token this service issued", {
      reason: "PAGE_TOKEN_INVALID",
    });
  const signed = bytes.subarray(0, bytes.length - MAC_BYTES);
  if (!timingSafeEqual(macOf(key, signed), bytes.subarray(bytes.length - MAC_BYTES))) throw malformed();
  return signed.subarray(HEADER_BYTES);
}

/**
 * Node decodes base64 leniently (skipping stray characters, ignoring the
 * unused bits of the last one): only the one spelling encodePageToken writes
 * is a token, so that no character of it can change unnoticed.
 */
function strictBase64url(token: string): Buffer | undefined {
  if (!BASE64URL.test(token)) return undefined;
  const bytes = Buffer.from(token, "base64url");
  return bytes.toString("base64url") === token ? bytes : undefined;
}

function digest(binding: string): string {
  return createHash("sha256").update(binding).digest("base64url").slice(0, 16);
}

function encodeValue(value: CursorValue): EncodedValue {
  return typeof value === "bigint" ? { i: value.toString() } : value;
}

function decodeValue(value: EncodedValue): CursorValue {
  return value !== null && typeof value === "object" ? BigInt(value.i) : value;
}

function parse(json: Buffer): Payload {
  let payload: unknown;
  try {
    payload = JSON.parse(json.toString("utf8"));
  } catch {
    throw malformed();
  }
  if (!isPayload(payload)) throw malformed();
  return payload;
}

function isPayload(value: unknown): value is Payload {
  if (typeof value !== "object" || value === null) return false;
  const { b, k, t } = value as Record<string, unknown>;
  return (
    typeof b === "string" &&
    Array.isArray(k) &&
    k.every(isEncodedValue) &&
    (t === undefined || (Number.isInteger(t) && Number(t) >= 0 && Number(t) <= MAX_TOTAL_SIZE))
  );
}

function isEncodedValue(value: unknown): value is EncodedValue {
  if (value === null || typeof value === "string" || typeof value === "number") return true;
  if (typeof value !== "object") return false;
  const { i } = value as Record<string, unknown>;
  return typeof i === "string" && /^-?\d{1,19}$/.test(i) && isInt64(BigInt(i));
}

function malformed(): InvalidArgumentError {
  return new InvalidArgumentError("page_token", "is not a token this service issued", { reason: "PAGE_TOKEN_INVALID" });
}
