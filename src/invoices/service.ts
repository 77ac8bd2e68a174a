import { toBinary } from "@bufbuild/protobuf";
import { CreateInvoiceRequestSchema, type InvoiceService } from "../../gen/chinook/v1/invoice_service_pb";
import { normalizePageSize } from "../db/paging";
import { optionalRequestId, requiredId } from "../grpc/fields";
import type { ServiceHandlers } from "../grpc/handlers";
import type { Invoices } from "./invoices";

/** chinook.v1.InvoiceService: requests mapped to the invoices domain, which holds the rules. */
export function invoiceService(invoices: Invoices): ServiceHandlers<typeof InvoiceService> {
  return {
    async createInvoice(request) {
      const requestId = optionalRequestId(request.requestId);
      const input = {
        // Checked with the lines and billing fields (validatedLines), so that one error lists them all.
        customerId: request.customerId,
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
      return invoices.create(input, canonical);
    },

    async getInvoice(request) {
      return invoices.get(requiredId(request.invoiceId, "invoice_id"));
    },

    async listInvoices(request) {
      const customerId = requiredId(request.customerId, "customer_id");
      return invoices.list(customerId, normalizePageSize(request.pageSize), request.pageToken);
    },
  };
}
