import { FIELD_LIMITS, validateTextField, type FieldRule } from "../customers/validation";
import { FieldViolations, InvalidArgumentError } from "../errors";

/** What a request to create an invoice is checked for before any storage is touched. */

export const MAX_LINES = 1000;
export const MAX_QUANTITY = 1000;

export interface BillingOverrides {
  address?: string;
  city?: string;
  state?: string;
  country?: string;
  postalCode?: string;
}

/** A requested line after merging; `index` is where its track first appears in the request, for error messages. */
export interface RequestedLine {
  trackId: bigint;
  quantity: number;
  index: number;
}

interface RequestedInvoice {
  customerId: bigint;
  lines: ReadonlyArray<{ trackId: bigint; quantity: number }>;
  billing?: BillingOverrides;
}

/**
 * A billing field obeys the rules of the customer's address field it defaults
 * from: the same column sizes (NVARCHAR(n)), and no control characters.
 */
const BILLING_FIELDS: ReadonlyArray<{ key: keyof BillingOverrides; field: string; rule: FieldRule }> = [
  { key: "address", field: "billing_address", rule: FIELD_LIMITS.address },
  { key: "city", field: "billing_city", rule: FIELD_LIMITS.city },
  { key: "state", field: "billing_state", rule: FIELD_LIMITS.state },
  { key: "country", field: "billing_country", rule: FIELD_LIMITS.country },
  { key: "postalCode", field: "billing_postal_code", rule: FIELD_LIMITS.postal_code },
];

/**
 * Everything that can be checked without the database, every violation
 * reported at once; the lines come back merged.
 */
export function validatedLines(input: RequestedInvoice): RequestedLine[] {
  const violations = new FieldViolations();
  violations.passes(() => validateCustomerId(input.customerId));
  validateBilling(input.billing ?? {}, violations);
  if (violations.passes(() => validateLineCount(input.lines))) {
    input.lines.forEach((line, index) => violations.passes(() => validateLine(line, index)));
  }
  violations.throwIfAny();
  return mergeLines(input.lines);
}

function validateCustomerId(customerId: bigint): void {
  if (customerId <= 0n) throw new InvalidArgumentError("customer_id", "must be a positive id");
}

function validateBilling(billing: BillingOverrides, violations: FieldViolations): void {
  for (const { key, field, rule } of BILLING_FIELDS) {
    const value = billing[key];
    if (value !== undefined) violations.passes(() => validateTextField(value, rule, field));
  }
}

function validateLineCount(lines: RequestedInvoice["lines"]): void {
  if (lines.length === 0) throw new InvalidArgumentError("lines", "must contain at least one line");
  if (lines.length > MAX_LINES) throw new InvalidArgumentError("lines", `must contain at most ${MAX_LINES} lines`);
}

/**
 * Merges the (valid) lines naming the same track into one line with the
 * summed quantity (first occurrence's position), so an invoice lists each
 * track once. The merged quantity obeys the same limit as a single line.
 */
function mergeLines(lines: RequestedInvoice["lines"]): RequestedLine[] {
  const merged = new Map<bigint, RequestedLine>();
  lines.forEach((line, index) => {
    const earlier = merged.get(line.trackId);
    if (earlier === undefined) {
      merged.set(line.trackId, { trackId: line.trackId, quantity: line.quantity, index });
      return;
    }
    earlier.quantity += line.quantity;
    if (earlier.quantity > MAX_QUANTITY) {
      throw new InvalidArgumentError(
        `lines[${index}].quantity`,
        `brings track ${line.trackId} to ${earlier.quantity} units; at most ${MAX_QUANTITY} per track`,
      );
    }
  });
  return [...merged.values()];
}

function validateLine(line: { trackId: bigint; quantity: number }, index: number): void {
  if (line.trackId <= 0n) throw new InvalidArgumentError(`lines[${index}].track_id`, "must be a positive id");
  if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
    throw new InvalidArgumentError(`lines[${index}].quantity`, `must be between 1 and ${MAX_QUANTITY}`);
  }
}
