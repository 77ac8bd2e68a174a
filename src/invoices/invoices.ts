import { create } from "@bufbuild/protobuf";
import { CustomerStatus } from "../../gen/chinook/v1/customer_pb";
import { InvoiceSchema, type Invoice } from "../../gen/chinook/v1/invoice_pb";
import { countWithinBudget, decodePageToken, encodePageToken, PROCESS_PAGE_TOKEN_KEYS, type PageTokenKeys } from "../db/paging";
import {
  customerResource,
  FailedPreconditionError,
  INVOICE_RESOURCE,
  InvalidArgumentError,
  NotFoundError,
  TRACK_RESOURCE,
} from "../errors";
import { validatedLines, type BillingOverrides, type RequestedLine } from "./requests";
import type { BillingAddress, Buyer, InvoiceCursor, InvoiceStore, ListedInvoice, NewInvoiceLine } from "./store";

/**
 * The most lines one page of invoices carries (whole invoices, and always at
 * least one): ~1.5 MB of answer at most, well below the 4 MB a gRPC client
 * accepts by default, however many lines each invoice holds. AIP-158 lets a
 * page hold fewer items than asked for.
 */
export const MAX_LINES_PER_PAGE = 10_000;

/** The idempotency-key namespace of invoice creation in `request_ids`. */
const CREATE_INVOICE_OPERATION = "chinook.v1.InvoiceService/CreateInvoice";

export interface CreateInvoiceInput {
  customerId: bigint;
  lines: ReadonlyArray<{ trackId: bigint; quantity: number }>;
  requestId?: string;
  billing?: BillingOverrides;
}

export interface InvoicePage {
  invoices: Invoice[];
  nextPageToken: string;
}

export interface InvoicesOptions {
  /**
   * The keys that sign and verify page tokens: the service passes the ones
   * every process on its database shares. By default, this process's own.
   */
  pageTokens?: PageTokenKeys;
}

/** Selling tracks, and reading what was sold: the rules, on whichever engine `store` runs. */
export class Invoices {
  private readonly pageTokens: PageTokenKeys;

  constructor(
    private readonly store: InvoiceStore,
    options: InvoicesOptions = {},
  ) {
    this.pageTokens = options.pageTokens ?? PROCESS_PAGE_TOKEN_KEYS;
  }

  async get(invoiceId: bigint): Promise<Invoice> {
    return existing(this.store, invoiceId);
  }

  /**
   * A customer's invoices, newest first, paged by keyset on (InvoiceDate,
   * InvoiceId). `pageSize` is already normalized (normalizePageSize).
   */
  async list(customerId: bigint, pageSize: number, pageToken: string): Promise<InvoicePage> {
    const binding = pageBinding(customerId);
    const after = pageToken === "" ? undefined : await decodeCursor(pageToken, binding, this.pageTokens);
    const signingKey = await this.pageTokens.signingKey();
    const listed = await this.store.newestFirst(customerId, after, pageSize + 1);
    const page = withinLineBudget(listed.slice(0, pageSize));
    const last = page.at(-1);
    const hasMore = listed.length > page.length && last !== undefined;
    const linesByInvoice = await this.store.linesOf(page.map(({ invoice }) => invoice.invoiceId));
    return {
      invoices: page.map(({ invoice }) => create(InvoiceSchema, { ...invoice, lines: linesByInvoice.get(invoice.invoiceId) ?? [] })),
      nextPageToken: hasMore ? encodePageToken(binding, [last.cursor.invoiceDate, last.cursor.invoiceId], undefined, signingKey) : "",
    };
  }

  /**
   * Sells tracks to an active customer: one invoice, one line per distinct
   * track, priced from `tracks`, all in one transaction, so a failure leaves
   * neither invoice nor lines. A `requestId` seen before returns the invoice
   * it created and creates nothing. `requestBytes` is the serialized request,
   * hashed so that reusing a request id for a different request is refused.
   */
  async create(input: CreateInvoiceInput, requestBytes: Uint8Array): Promise<Invoice> {
    const lines = validatedLines(input);
    const requestId = input.requestId ?? "";
    return this.store.write(async (store) => {
      const earlier = requestId === "" ? undefined : await store.findRequest(CREATE_INVOICE_OPERATION, requestId, requestBytes);
      // An invoice never changes once written: reading it again gives the first answer.
      if (earlier !== undefined) return existing(store, earlier.resourceId);
      const invoice = await insertInvoice(store, input, lines);
      if (requestId !== "") await store.recordRequest(CREATE_INVOICE_OPERATION, requestId, requestBytes, invoice.invoiceId);
      return invoice;
    });
  }
}

async function existing(store: InvoiceStore, invoiceId: bigint): Promise<Invoice> {
  const invoice = await store.get(invoiceId);
  if (invoice === undefined) {
    throw new NotFoundError(`invoice ${invoiceId} not found`, {
      reason: "INVOICE_NOT_FOUND",
      resource: { type: INVOICE_RESOURCE, name: `invoices/${invoiceId}` },
      metadata: { invoiceId: String(invoiceId) },
    });
  }
  return invoice;
}

async function insertInvoice(store: InvoiceStore, input: CreateInvoiceInput, lines: readonly RequestedLine[]): Promise<Invoice> {
  const buyer = await activeBuyer(store, input.customerId);
  const pricedLines = await priceLines(store, lines);
  return store.insert({
    customerId: input.customerId,
    invoiceTime: new Date(),
    billing: billingFor(buyer, input.billing ?? {}),
    lines: pricedLines,
  });
}

async function activeBuyer(store: InvoiceStore, customerId: bigint): Promise<Buyer> {
  const buyer = await store.findBuyer(customerId);
  const about = { subject: customerResource(customerId).name, metadata: { customerId: String(customerId) } };
  if (buyer === undefined) {
    throw new FailedPreconditionError(`customer ${customerId} does not exist`, { reason: "CUSTOMER_MISSING", ...about });
  }
  if (buyer.status !== CustomerStatus.ACTIVE) {
    throw new FailedPreconditionError(`customer ${customerId} is not active`, { reason: "CUSTOMER_NOT_ACTIVE", ...about });
  }
  return buyer;
}

async function priceLines(store: InvoiceStore, lines: readonly RequestedLine[]): Promise<NewInvoiceLine[]> {
  const tracks = await store.findTracks(lines.map((line) => line.trackId));
  return lines.map((line) => {
    const track = tracks.get(line.trackId);
    if (track === undefined) {
      throw new NotFoundError(`lines[${line.index}].track_id: track ${line.trackId} not found`, {
        reason: "TRACK_NOT_FOUND",
        resource: { type: TRACK_RESOURCE, name: `tracks/${line.trackId}` },
        metadata: { trackId: String(line.trackId), field: `lines[${line.index}].track_id` },
      });
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

// Keyset paging.

function withinLineBudget(listed: ListedInvoice[]): ListedInvoice[] {
  return listed.slice(0, countWithinBudget(listed, MAX_LINES_PER_PAGE, (entry) => entry.lineCount));
}

/** A page token only continues the listing of the customer it was issued for. */
function pageBinding(customerId: bigint): string {
  return `invoices?customer_id=${customerId}`;
}

async function decodeCursor(token: string, binding: string, keys: PageTokenKeys): Promise<InvoiceCursor> {
  const [invoiceDate, invoiceId] = (await decodePageToken(token, binding, 2, "customer_id", keys)).cursor;
  // Invoice ids are positive.
  if (typeof invoiceDate !== "string" || typeof invoiceId !== "bigint" || invoiceId < 1n) {
    throw new InvalidArgumentError("page_token", "is not a token this service issued", { reason: "PAGE_TOKEN_INVALID" });
  }
  return { invoiceDate, invoiceId };
}
