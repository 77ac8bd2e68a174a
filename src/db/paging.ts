import { createHash } from "node:crypto";
import { InvalidArgumentError } from "../errors";
import { isInt64 } from "../int64";

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
/** A listing's total_size is an int32. */
export const MAX_TOTAL_SIZE = 2 ** 31 - 1;

/** One value of a keyset cursor: the last row's sort key(s) and id. */
export type CursorValue = string | number | bigint | null;

const TOKEN_VERSION = 1;

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

/**
 * An opaque page token: the keyset position after the last row returned (and
 * optionally the listing's total size), bound to the request's filters and
 * order (`binding`, any canonical string of them) so that a token reused with
 * other ones is refused rather than misread.
 */
export function encodePageToken(binding: string, cursor: readonly CursorValue[], totalSize?: number): string {
  const payload: Payload = { v: TOKEN_VERSION, b: digest(binding), k: cursor.map(encodeValue), t: totalSize };
  return Buffer.from(JSON.stringify(payload)).toString("base64url");
}

/**
 * What a token from encodePageToken carries; INVALID_ARGUMENT for anything
 * else. `boundTo` names, for the client, what the binding holds.
 */
export function decodePageToken(token: string, binding: string, length: number, boundTo: string): PageTokenContents {
  const payload = parse(token);
  if (payload.b !== digest(binding)) throw new InvalidArgumentError("page_token", `was issued for different ${boundTo}`);
  if (payload.k.length !== length) throw malformed();
  return { cursor: payload.k.map(decodeValue), totalSize: payload.t };
}

type EncodedValue = string | number | null | { i: string };

interface Payload {
  v: number;
  b: string;
  k: EncodedValue[];
  t?: number | undefined;
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

function parse(token: string): Payload {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw malformed();
  }
  if (!isPayload(payload)) throw malformed();
  return payload;
}

function isPayload(value: unknown): value is Payload {
  if (typeof value !== "object" || value === null) return false;
  const { v, b, k, t } = value as Record<string, unknown>;
  return (
    v === TOKEN_VERSION &&
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
  return new InvalidArgumentError("page_token", "is not a token this service issued");
}
