import { CustomerStatus, LoyaltyTier, type Customer } from "../../gen/chinook/v1/customer_pb";
import type { CustomerService, ExportCustomersRequest } from "../../gen/chinook/v1/customer_service_pb";
import { normalizePageSize } from "../db/paging";
import { FieldViolations } from "../errors";
import { knownEnum, optionalRequestId, optionalTimeBound, requireAtMost, requiredId, requiredMessage } from "../grpc/fields";
import type { ServiceHandlers } from "../grpc/handlers";
import { applyUpdateMask, validateUpdateMask } from "./field-mask";
import { parseOrderBy, type CustomerApi, type CustomerFilter } from "./customers";
import { FIELD_LIMITS, filterText, validateCustomer } from "./validation";

const MAX_BATCH_SIZE = 1000;
/**
 * Customers an export reads ahead of its client: with the messages being
 * written (writeAll, on the gRPC door), what an export whose client reads nothing holds. 32
 * Chinook-sized customers take ~25 KB, under half of an HTTP/2 flow-control
 * window; 500 held ~0.45 MB, and 1,000 such exports took the process to
 * ~750 MB.
 */
const EXPORT_READ_AHEAD = 32;
/** name_prefix searches first and last names. */
const LONGEST_NAME = Math.max(FIELD_LIMITS.first_name.maxChars, FIELD_LIMITS.last_name.maxChars);

/** The filters ListCustomersRequest and ExportCustomersRequest share. */
type FilterRequest = Omit<ExportCustomersRequest, "$typeName" | "$unknown">;

/**
 * chinook.v1.CustomerService: checks each request, names the field at fault,
 * and hands the work to the customers domain. Nothing here knows about SQL.
 */
export function customerService(customers: CustomerApi): ServiceHandlers<typeof CustomerService> {
  return {
    async getCustomer(request) {
      return customers.get(requiredId(request.customerId, "customer_id"));
    },

    async listCustomers(request) {
      return customers.list({
        filter: filterOf(request),
        order: parseOrderBy(request.orderBy),
        pageSize: normalizePageSize(request.pageSize),
        pageToken: request.pageToken,
      });
    },

    async createCustomer(request) {
      const customer = requiredMessage(request.customer, "customer");
      const violations = new FieldViolations();
      const requestId = violations.value(() => optionalRequestId(request.requestId));
      violations.passes(() => validateCustomer(customer));
      violations.throwIfAny();
      return customers.create(customer, requestId);
    },

    async updateCustomer(request) {
      const patch = requiredMessage(request.customer, "customer");
      const id = requiredId(patch.customerId, "customer.customer_id");
      validateUpdateMask(request.updateMask);
      const change = (current: Customer): Customer => {
        const updated = applyUpdateMask(current, patch, request.updateMask);
        validateCustomer(updated);
        return updated;
      };
      return customers.update(id, change, optionalEtag(patch.etag));
    },

    async deleteCustomer(request) {
      return customers.softDelete(requiredId(request.customerId, "customer_id"), optionalEtag(request.etag));
    },

    async undeleteCustomer(request) {
      return customers.undelete(requiredId(request.customerId, "customer_id"));
    },

    async batchGetCustomers(request) {
      requireAtMost(request.customerIds, MAX_BATCH_SIZE, "customer_ids");
      request.customerIds.forEach((id, i) => requiredId(id, `customer_ids[${i}]`));
      return { customers: await customers.batchGet(request.customerIds) };
    },

    async batchCreateCustomers(request) {
      requireAtMost(request.requests, MAX_BATCH_SIZE, "requests");
      const violations = new FieldViolations();
      const creates = request.requests.map((item, i) => {
        const customer = requiredMessage(item.customer, `requests[${i}].customer`);
        violations.passes(() => validateCustomer(customer, `requests[${i}].customer`));
        return { customer, requestId: violations.value(() => optionalRequestId(item.requestId, `requests[${i}].request_id`)) };
      });
      violations.throwIfAny();
      return { customers: await customers.batchCreate(creates) };
    },

    // A generator, so that an invalid filter fails the call when it starts streaming, on every door.
    async *exportCustomers(request) {
      yield* customers.stream(filterOf(request), EXPORT_READ_AHEAD);
    },
  };
}

function filterOf(request: FilterRequest): CustomerFilter {
  return {
    country: filterText(request.country, FIELD_LIMITS.country.maxChars, "country"),
    status: knownEnum(request.status, CustomerStatus, "status"),
    // Stored emails are NFKC (see validation); names are stored as sent, so a prefix is matched as sent.
    email: filterText(request.email?.normalize("NFKC"), FIELD_LIMITS.email.maxChars, "email"),
    namePrefix: filterText(request.namePrefix, LONGEST_NAME, "name_prefix"),
    supportRepId: request.supportRepId,
    loyaltyTier: knownEnum(request.loyaltyTier, LoyaltyTier, "loyalty_tier"),
    tag: filterText(request.tag, FIELD_LIMITS["profile.tags"].items.maxChars, "tag"),
    createdAfter: optionalTimeBound(request.createdAfter, "created_after"),
    createdBefore: optionalTimeBound(request.createdBefore, "created_before"),
    showDeleted: request.showDeleted,
  };
}

function optionalEtag(etag: string): string | undefined {
  return etag === "" ? undefined : etag;
}
