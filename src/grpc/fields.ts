import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../errors";
import { isValidTimestamp, TIMESTAMP_RANGE } from "../timestamps";

/**
 * Checks of request fields that every service shares. Each names the field as
 * the client wrote it, so the error says exactly what to fix.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A resource id: positive. */
export function requiredId(value: bigint, field: string): bigint {
  if (value <= 0n) throw new InvalidArgumentError(field, "must be a positive id");
  return value;
}

/** A message field the request cannot do without. */
export function requiredMessage<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new InvalidArgumentError(field, "is required");
  return value;
}

/** AIP-155 request_id: empty means "not idempotent", anything else must be a UUID. */
export function optionalRequestId(value: string, field = "request_id"): string | undefined {
  if (value === "") return undefined;
  if (!UUID.test(value)) throw new InvalidArgumentError(field, "must be a UUID");
  return value.toLowerCase();
}

/** At most `max` items in a repeated field. */
export function requireAtMost(items: readonly unknown[], max: number, field: string): void {
  if (items.length > max) throw new InvalidArgumentError(field, `at most ${max} items, got ${items.length}`);
}

/**
 * A time bound as a Date, or undefined when unset; out-of-range values are
 * refused. A Date holds milliseconds, as stored times do: a bound between two
 * is the later one, which compares with them as the bound itself would.
 */
export function optionalTimeBound(value: Timestamp | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  if (!isValidTimestamp(value)) throw new InvalidArgumentError(field, TIMESTAMP_RANGE);
  return new Date(Number(value.seconds) * 1000 + Math.ceil(value.nanos / 1_000_000));
}

/** An enum value the generated enum knows. */
export function knownEnum<E extends number>(value: E, values: Readonly<Record<string, string | number>>, field: string): E {
  if (!Object.values(values).includes(value)) throw new InvalidArgumentError(field, `unknown value ${value}`);
  return value;
}
