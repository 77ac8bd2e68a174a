import type { CustomerStatus } from "../../gen/chinook/v1/customer_pb";
import type { Invoice, InvoiceLine } from "../../gen/chinook/v1/invoice_pb";
import type { RecordedRequest } from "../db/request-ids";

/** Billing fields as stored: NULL when unknown. */
export interface BillingAddress {
  address: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  postalCode: string | null;
}

/** What an invoice needs to know about the customer it bills. */
export interface Buyer {
  status: CustomerStatus;
  address: BillingAddress;
}

export interface Track {
  name: string;
  unitPriceCents: bigint;
}

export interface NewInvoiceLine {
  trackId: bigint;
  /** As the invoice shows it: the track's name when it was priced. */
  trackName: string;
  quantity: number;
  unitPriceCents: bigint;
}

export interface NewInvoice {
  customerId: bigint;
  /** Stored to the second. */
  invoiceTime: Date;
  billing: BillingAddress;
  lines: readonly NewInvoiceLine[];
}

/** Where a listing newest first goes on from: the sort key of the last invoice shown. */
export interface InvoiceCursor {
  /** The stored `InvoiceDate`, as the store reads it and takes it back. */
  invoiceDate: string;
  invoiceId: bigint;
}

/** An invoice as a listing first reads it: without its lines, but knowing how many it has. */
export interface ListedInvoice {
  invoice: Invoice;
  cursor: InvoiceCursor;
  lineCount: number;
}

/**
 * What the invoices domain needs from storage. One implementation per engine
 * (stores/); each turns driver errors into domain errors (src/errors.ts).
 */
export interface InvoiceStore {
  /** Runs `work` in one write transaction, on a store bound to it: all of it commits, or none. */
  write<T>(work: (store: InvoiceStore) => Promise<T>): Promise<T>;

  /** The invoice with its lines, or undefined when there is none. */
  get(invoiceId: bigint): Promise<Invoice | undefined>;

  /** Up to `limit` of the customer's invoices, newest first by (InvoiceDate, InvoiceId), after `after`. */
  newestFirst(customerId: bigint, after: InvoiceCursor | undefined, limit: number): Promise<ListedInvoice[]>;

  /** The lines of each of the invoices, in line id order; an invoice without lines is absent. */
  linesOf(invoiceIds: readonly bigint[]): Promise<Map<bigint, InvoiceLine[]>>;

  /** The customer's status and address, or undefined when there is no such customer. */
  findBuyer(customerId: bigint): Promise<Buyer | undefined>;

  /** The tracks that exist among `trackIds`, by id; missing ids are simply absent. */
  findTracks(trackIds: readonly bigint[]): Promise<Map<bigint, Track>>;

  /**
   * Writes the invoice and its lines, in the order given (Total is the exact
   * sum of the lines), and returns it as `get` would, without reading it back.
   */
  insert(invoice: NewInvoice): Promise<Invoice>;

  /** What an earlier request with this id created; INVALID_ARGUMENT when the id was used for a different request. */
  findRequest(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined>;

  /** Remembers that this request created `resourceId`; call it inside `write`, with the create. */
  recordRequest(operation: string, requestId: string, request: Uint8Array, resourceId: bigint): Promise<void>;
}
