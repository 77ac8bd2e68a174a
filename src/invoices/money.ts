/**
 * Exact money in integer cents. Amounts are converted to cents once on the way
 * in and back once on the way out; arithmetic in between is bigint and never
 * accumulates binary rounding error. SQLite's Chinook stores them as REAL;
 * PostgreSQL's as numeric(10,2), which the driver reads and writes as decimal
 * text (formatCents writes it).
 */

const CENTS_PER_UNIT = 100n;

/** A non-negative decimal as JavaScript prints a number: `0.99`, `990`, `1e-7`, `1.5e+21`. */
const DECIMAL = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/;

/**
 * The amount a REAL holds, in cents, rounded half away from zero at the cent.
 * It rounds the shortest decimal that reads back as the same double (what
 * `String(value)` prints) rather than the double's exact binary expansion:
 * 0.99 is really 0.98999999999999999112, and 1.005 is stored a hair below the
 * half, yet both mean the decimal that was written.
 */
export function centsFromReal(value: number | bigint): bigint {
  // NUMERIC affinity stores whole amounts as INTEGER, read as bigint units.
  if (typeof value === "bigint") return value * CENTS_PER_UNIT;
  if (!Number.isFinite(value)) throw new RangeError(`not a finite amount: ${value}`);
  const magnitude = roundedCentsOf(Math.abs(value).toString());
  return value < 0 ? -magnitude : magnitude;
}

/**
 * The amount a decimal text holds, in cents, read digit by digit (never
 * through a float), rounded half away from zero at the cent: PostgreSQL's
 * numeric as the driver returns it, e.g. `0.99`, `-1.50`, `13`.
 */
export function centsFromDecimal(text: string): bigint {
  const negative = text.startsWith("-");
  const magnitude = roundedCentsOf(negative ? text.slice(1) : text);
  return negative ? -magnitude : magnitude;
}

/** An amount as either engine's driver reads it: a REAL (or INTEGER) from SQLite, numeric text from PostgreSQL. */
export function centsFromColumn(value: number | bigint | string): bigint {
  return typeof value === "string" ? centsFromDecimal(value) : centsFromReal(value);
}

/** "13.86", "990.00", "0.05", "-1.50": always two decimals, no grouping. */
export function formatCents(cents: bigint): string {
  const magnitude = cents < 0n ? -cents : cents;
  const units = magnitude / CENTS_PER_UNIT;
  const fraction = (magnitude % CENTS_PER_UNIT).toString().padStart(2, "0");
  return `${cents < 0n ? "-" : ""}${units}.${fraction}`;
}

/**
 * The REAL to store for an amount: the double nearest to the decimal, which
 * centsFromReal reads back as the same cents. Beyond 2^53 cents a double can
 * no longer tell neighbouring cents apart, so such amounts are refused.
 */
export function centsToReal(cents: bigint): number {
  const magnitude = cents < 0n ? -cents : cents;
  if (magnitude > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`amount too large for REAL: ${cents} cents`);
  return Number(cents) / Number(CENTS_PER_UNIT);
}

function roundedCentsOf(decimal: string): bigint {
  const match = DECIMAL.exec(decimal);
  if (match === null) throw new RangeError(`not a decimal amount: ${decimal}`);
  const [, whole = "", fraction = "", exponent = "0"] = match;
  const digits = BigInt(whole + fraction);
  const centExponent = Number(exponent) - fraction.length + 2;
  if (centExponent >= 0) return digits * 10n ** BigInt(centExponent);
  return roundHalfUp(digits, 10n ** BigInt(-centExponent));
}

function roundHalfUp(dividend: bigint, divisor: bigint): bigint {
  const quotient = dividend / divisor;
  const remainder = dividend % divisor;
  return remainder * 2n >= divisor ? quotient + 1n : quotient;
}
