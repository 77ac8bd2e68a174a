import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { InvoiceLineSchema, InvoiceSchema, type Invoice, type InvoiceLine } from "../../../gen/chinook/v1/invoice_pb";
import type { InvoiceItemRow, InvoiceRow } from "../../db/schema";
import { centsFromColumn, formatCents } from "../money";
import type { NewInvoiceLine } from "../store";

/**
 * Row ⇄ message mapping shared by every engine's store: the one place that
 * knows both shapes.
 */

/** A line as both stores read it: the item joined with its track's name. */
export interface LineRow {
  InvoiceLineId: bigint;
  InvoiceId: bigint;
  TrackId: bigint;
  TrackName: string | null;
  UnitPrice: InvoiceItemRow["UnitPrice"];
  Quantity: bigint;
}

export function toInvoice(row: InvoiceRow, lines: InvoiceLine[]): Invoice {
  return create(InvoiceSchema, {
    invoiceId: row.InvoiceId,
    customerId: row.CustomerId,
    invoiceTime: timestampFromInvoiceDate(row.InvoiceDate),
    billingAddress: row.BillingAddress ?? undefined,
    billingCity: row.BillingCity ?? undefined,
    billingState: row.BillingState ?? undefined,
    billingCountry: row.BillingCountry ?? undefined,
    billingPostalCode: row.BillingPostalCode ?? undefined,
    total: formatCents(centsFromColumn(row.Total)),
    lines,
  });
}

export function toInvoiceLine(row: LineRow): InvoiceLine {
  return create(InvoiceLineSchema, {
    invoiceLineId: row.InvoiceLineId,
    trackId: row.TrackId,
    trackName: row.TrackName ?? "",
    unitPrice: formatCents(centsFromColumn(row.UnitPrice)),
    quantity: Number(row.Quantity),
  });
}

/** Lines grouped by invoice, in the order read. */
export function byInvoice(rows: readonly LineRow[]): Map<bigint, InvoiceLine[]> {
  const linesByInvoice = new Map<bigint, InvoiceLine[]>();
  for (const row of rows) {
    const lines = linesByInvoice.get(row.InvoiceId) ?? [];
    lines.push(toInvoiceLine(row));
    linesByInvoice.set(row.InvoiceId, lines);
  }
  return linesByInvoice;
}

/**
 * The inserted lines as rows, given the ids one multi-row INSERT … RETURNING
 * gave them: such an INSERT numbers its rows in VALUES order, but RETURNING
 * may list them in any order, so the ids are matched in sorted order.
 */
export function insertedLineRows(
  rows: ReadonlyArray<Omit<LineRow, "InvoiceLineId" | "TrackName">>,
  lines: readonly NewInvoiceLine[],
  lineIds: readonly bigint[],
): LineRow[] {
  const sorted = [...lineIds].sort((a, b) => (a < b ? -1 : 1));
  return rows.map((row, index) => ({
    ...row,
    InvoiceLineId: sorted[index] ?? missingLineId(),
    TrackName: lines[index]?.trackName ?? null,
  }));
}

function missingLineId(): never {
  throw new Error("INSERT … RETURNING returned fewer invoice lines than it inserted");
}

export function totalCentsOf(lines: readonly NewInvoiceLine[]): bigint {
  return lines.reduce((sum, line) => sum + line.unitPriceCents * BigInt(line.quantity), 0n);
}

/** Chinook's date text, `YYYY-MM-DD HH:MM:SS` UTC: SQLite's DATETIME, and PostgreSQL's timestamp as the pool reads it. */
const INVOICE_DATE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

function timestampFromInvoiceDate(text: string): Timestamp {
  const date = new Date(`${text.replace(" ", "T")}Z`);
  if (!INVOICE_DATE.test(text) || Number.isNaN(date.getTime())) {
    throw new Error(`InvoiceDate is not Chinook's date format: ${text}`);
  }
  return timestampFromDate(date);
}

/** New rows keep Chinook's format: on SQLite, dates sort (and page) as text. */
export function formatInvoiceDate(time: Date): string {
  return time.toISOString().slice(0, 19).replace("T", " ");
}
