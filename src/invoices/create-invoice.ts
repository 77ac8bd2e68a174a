import type { Invoice } from "../../gen/chinook/v1/invoice_pb";
import type { CreateInvoiceInput } from "./invoices";
import { invoicesFromLegacyDeps, type LegacyInvoiceServiceDeps } from "./repository";

/*
 * TEMPORARY, for bench/repository-micro.ts until it calls Invoices.create
 * (see src/invoices/repository.ts). Delete with repository.ts.
 */

/** @deprecated Use `Invoices.create(input, requestBytes)`. */
export function createInvoice(
  deps: LegacyInvoiceServiceDeps,
  input: CreateInvoiceInput,
  requestBytes: Uint8Array,
): Promise<Invoice> {
  return invoicesFromLegacyDeps(deps).create(input, requestBytes);
}
