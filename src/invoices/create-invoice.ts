import type { Invoice } from "../../gen/chinook/v1/invoice_pb";
import { CustomerStatus } from "../../gen/chinook/v1/customer_pb";
import type { RequestIds } from "../db/request-ids";
import { translatingErrors } from "../db/sqlite/errors";
import { inWriteTransaction, type GroupCommit } from "../db/sqlite/group-commit";
import type { Executor } from "../db/transactions";
import { FIELD_LIMITS, validateTextField, type FieldRule } from "../customers/validation";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors";
import type { BillingAddress, Buyer, InvoiceRepository, NewInvoiceLine } from "./repository";

export const MAX_LINES = 1000;
export const MAX_QUANTITY = 1000;

/** The idempotency-key namespace of this use case in `request_ids`. */
const CREATE_INVOICE_OPERATION = "chinook.v1.InvoiceService/CreateInvoice";

export interface CreateInvoiceDeps {
  db: Executor;
  /** Shares transactions with concurrent writes (see GroupCommit); without it, each invoice has its own. */
  writes?: GroupCommit;
  invoices: InvoiceRepository;
  requestIds: RequestIds;
}

export interface BillingOverrides {
  address?: string;
  city?: string;
  state?: string;
  country?: string;
  postalCode?: string;
}

export interface CreateInvoiceInput {
  customerId: bigint;
  lines: ReadonlyArray<{ trackId: bigint; quantity: number }>;
  requestId?: string;
  billing?: BillingOverrides;
}

/** A requested line after merging; `index` is where its track first appears in the request, for error messages. */
interface RequestedLine {
  trackId: bigint;
  quantity: number;
  index: number;
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
 * Sells tracks to an active customer: one invoice, one line per distinct
 * track, priced from `tracks`, all in one transaction (the caller's, when
 * `deps.db` is already one), so a failure leaves neither invoice nor lines.
 * A `requestId` seen before returns the invoice it created and creates
 * nothing. `requestBytes` is the serialized request, hashed so that reusing a
 * request id for a different request is refused.
 */
export async function createInvoice(
  deps: CreateInvoiceDeps,
  input: CreateInvoiceInput,
  requestBytes: Uint8Array,
): Promise<Invoice> {
  const lines = validatedLines(input);
  const requestId = input.requestId ?? "";
  // The idempotency key is written outside the repositories, so its driver errors (a busy lock) need translating here.
  return translatingErrors(() =>
    inWriteTransaction(deps.db, deps.writes, async (tx) => {
      const invoices = deps.invoices.withTx(tx);
      const ids = deps.requestIds.withTx(tx);
      const earlier = requestId === "" ? undefined : await ids.find(CREATE_INVOICE_OPERATION, requestId, requestBytes);
      // An invoice never changes once written: reading it again gives the first answer.
      if (earlier !== undefined) return invoices.get(earlier.resourceId);
      const invoice = await insertInvoice(invoices, input, lines);
      if (requestId !== "") await ids.record(CREATE_INVOICE_OPERATION, requestId, requestBytes, invoice.invoiceId);
      return invoice;
    }),
  );
}

/** Everything that can be checked without the database; the lines come back merged. */
function validatedLines(input: CreateInvoiceInput): RequestedLine[] {
  validateCustomerId(input.customerId);
  validateBilling(input.billing ?? {});
  return mergeLines(input.lines);
}

async function insertInvoice(
  invoices: InvoiceRepository,
  input: CreateInvoiceInput,
  lines: readonly RequestedLine[],
): Promise<Invoice> {
  const buyer = await activeBuyer(invoices, input.customerId);
  const pricedLines = await priceLines(invoices, lines);
  return invoices.insert({
    customerId: input.customerId,
    invoiceTime: new Date(),
    billing: billingFor(buyer, input.billing ?? {}),
    lines: pricedLines,
  });
}

function validateCustomerId(customerId: bigint): void {
  if (customerId <= 0n) throw new InvalidArgumentError("customer_id", "must be a positive id");
}

function validateBilling(billing: BillingOverrides): void {
  for (const { key, field, rule } of BILLING_FIELDS) {
    const value = billing[key];
    if (value !== undefined) validateTextField(value, rule, field);
  }
}

/**
 * Validates the lines and merges those naming the same track into one line
 * with the summed quantity (first occurrence's position), so an invoice lists
 * each track once. The merged quantity obeys the same limit as a single line.
 */
function mergeLines(lines: CreateInvoiceInput["lines"]): RequestedLine[] {
  if (lines.length === 0) throw new InvalidArgumentError("lines", "must contain at least one line");
  if (lines.length > MAX_LINES) throw new InvalidArgumentError("lines", `must contain at most ${MAX_LINES} lines`);
  const merged = new Map<bigint, RequestedLine>();
  lines.forEach((line, index) => {
    validateLine(line, index);
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

async function activeBuyer(invoices: InvoiceRepository, customerId: bigint): Promise<Buyer> {
  const buyer = await invoices.findBuyer(customerId);
  if (buyer === undefined) throw new FailedPreconditionError(`customer ${customerId} does not exist`);
  if (buyer.status !== CustomerStatus.ACTIVE) throw new FailedPreconditionError(`customer ${customerId} is not active`);
  return buyer;
}

async function priceLines(invoices: InvoiceRepository, lines: readonly RequestedLine[]): Promise<NewInvoiceLine[]> {
  const tracks = await invoices.findTracks(lines.map((line) => line.trackId));
  return lines.map((line) => {
    const track = tracks.get(line.trackId);
    if (track === undefined) {
      throw new NotFoundError(`lines[${line.index}].track_id: track ${line.trackId} not found`);
    }
    return { trackId: line.trackId, trackName: track.name, quantity: line.quantity, unitPriceCents: track.unitPriceCents };
  });
}

/** Each billing field the request leaves unset takes the customer's; an empty string counts as set. */
function billingFor(buyer: Buyer, overrides: BillingOverrides): BillingAddress {
  return {
    address: overrides.address ?? buyer.address.address,
    city: overrides.city ?? buyer.address.city,
    state: overrides.state ?? buyer.address.state,
    country: overrides.country ?? buyer.address.country,
    postalCode: overrides.postalCode ?? buyer.address.postalCode,
  };
}
