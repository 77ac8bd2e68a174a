import { toBinary } from "@bufbuild/protobuf";
import { CreateInvoiceRequestSchema, type InvoiceService } from "../../gen/chinook/v1/invoice_service_pb";
import { normalizePageSize } from "../db/paging";
import type { ServiceHandlers } from "../grpc/adapter";
import { optionalRequestId, requiredId } from "../grpc/fields";
import { createInvoice, type CreateInvoiceDeps } from "./create-invoice";

export type InvoiceServiceDeps = CreateInvoiceDeps;

/** chinook.v1.InvoiceService: request checks here, the transaction in createInvoice. */
export function invoiceService(deps: InvoiceServiceDeps): ServiceHandlers<typeof InvoiceService> {
  return {
    async createInvoice(request) {
      const requestId = optionalRequestId(request.requestId);
      const input = {
        customerId: requiredId(request.customerId, "customer_id"),
        lines: request.lines,
        requestId,
        billing: {
          address: request.billingAddress,
          city: request.billingCity,
          state: request.billingState,
          country: request.billingCountry,
          postalCode: request.billingPostalCode,
        },
      };
      // Hashed with the id as keyed (lowercase), so a retry spelling the same UUID in capitals is the same request.
      const canonical = toBinary(CreateInvoiceRequestSchema, { ...request, requestId: requestId ?? "" });
      return createInvoice(deps, input, canonical);
    },

    async getInvoice(request) {
      return deps.invoices.get(requiredId(request.invoiceId, "invoice_id"));
    },

    async listInvoices(request) {
      const customerId = requiredId(request.customerId, "customer_id");
      return deps.invoices.listByCustomer(customerId, normalizePageSize(request.pageSize), request.pageToken);
    },
  };
}
