/**
 * The ceiling: a grpc-js server for the same CustomerService descriptor,
 * through the same adapter and server setup as the service, whose handlers
 * do no work. Whatever the real service answers slower than this is the
 * cost of what it adds (SQL, JSON, mapping, logging…), not of the transport.
 * It is the transport, so it has no interceptors; and CONSTANT_CUSTOMER is
 * not frozen, so it is encoded on every message, never remembered.
 * ListCustomers answers CONSTANT_PAGE, encoded once.
 *
 *   node dist/bench/ceiling-server.js [--export-count N]
 *
 * Prints {"port":…,"customerBytes":…} once it listens on 127.0.0.1.
 */
import * as grpc from "@grpc/grpc-js";
import { clone, create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ContactChannel,
  CustomerSchema,
  CustomerStatus,
  LoyaltyTier,
  type Customer,
} from "../gen/chinook/v1/customer_pb";
import { CustomerService, ListCustomersResponseSchema } from "../gen/chinook/v1/customer_service_pb";
import { adaptService, type ServiceHandlers } from "../src/grpc/adapter";
import { freezeMessage } from "../src/grpc/frozen-messages";
import { bind, createGrpcServer } from "../src/grpc/server";
import { serviceError } from "../src/grpc/status";
import { Flags } from "./flags";

/** 16 strings (12 fields + 4 tags), about 400 bytes encoded: what a typical stored customer weighs. */
export const CONSTANT_CUSTOMER: Customer = create(CustomerSchema, {
  customerId: 1_234_567n,
  firstName: "Luís Gonçalves",
  lastName: "Almeida-Fontaine",
  company: "Embraer - Empresa Brasileira de Aeronáutica S.A.",
  address: "Av. Brigadeiro Faria Lima, 2170 - Bloco B",
  city: "São José dos Campos",
  state: "SP",
  country: "Brazil",
  postalCode: "12227-000",
  phone: "+55 (12) 3923-5555",
  fax: "+55 (12) 3923-5566",
  email: "luis.goncalves.1234567@embraer.com.br",
  supportRepId: 3n,
  status: CustomerStatus.ACTIVE,
  profile: {
    loyaltyTier: LoyaltyTier.GOLD,
    tags: ["vinyl-collector", "early-adopter", "newsletter", "jazz-fan"],
    favoriteGenreIds: [1n, 2n, 11n],
    marketingOptIn: true,
    preferredContact: ContactChannel.EMAIL,
    lastContactTime: timestampFromDate(new Date("2024-05-06T07:08:09.123Z")),
  },
  createTime: timestampFromDate(new Date("2019-03-04T05:06:07.890Z")),
  updateTime: timestampFromDate(new Date("2024-05-06T07:08:09.123Z")),
  etag: '"q9Yh2bXo1kL3mN4p"',
});

/**
 * A ListCustomers answer the size of the service's: a full page of 50
 * customers, a next-page token and a total. What the transport alone costs
 * to carry a page, which a single customer's ceiling does not show. Frozen,
 * so encoded once, as the service's cached customers are: encoding 50
 * customers on every call (~110 µs) would hide the transport's own cost.
 */
export const CONSTANT_PAGE = freezeMessage(
  create(ListCustomersResponseSchema, {
    customers: Array.from({ length: 50 }, () => clone(CustomerSchema, CONSTANT_CUSTOMER)),
    nextPageToken: "Y2VpbGluZy1wYWdlLXRva2VuLW9mLWFib3V0LXRoZS1zaXplLW9mLXRoZS1zZXJ2aWNlcy1wYWdlLXRva2Vucy0xMjM0NTY3ODkw",
    totalSize: 41_465,
  }),
);

function unimplemented(): Promise<never> {
  const error = serviceError(grpc.status.UNIMPLEMENTED, "the ceiling server only answers with a constant customer");
  return Promise.reject(error);
}

/** `count` copies, which the adapter writes as the client takes them (writeAll), as it writes the service's exports. */
async function* copies(count: number): AsyncGenerator<Customer> {
  for (let sent = 0; sent < count; sent++) yield CONSTANT_CUSTOMER;
}

function ceilingHandlers(exportCount: number): ServiceHandlers<typeof CustomerService> {
  const constant = async (): Promise<Customer> => CONSTANT_CUSTOMER;
  return {
    getCustomer: constant,
    createCustomer: constant,
    updateCustomer: constant,
    deleteCustomer: constant,
    undeleteCustomer: constant,
    listCustomers: async () => CONSTANT_PAGE,
    batchGetCustomers: unimplemented,
    batchCreateCustomers: unimplemented,
    exportCustomers: () => copies(exportCount),
  };
}

async function main(): Promise<void> {
  const flags = new Flags(process.argv.slice(2), ["export-count"]);
  const exportCount = flags.integer("export-count", 1_000_000, 0);
  const server = createGrpcServer([adaptService(CustomerService, ceilingHandlers(exportCount))]);
  const port = await bind(server, "127.0.0.1:0", grpc.ServerCredentials.createInsecure());
  const stop = (): void => server.forceShutdown();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const customerBytes = toBinary(CustomerSchema, CONSTANT_CUSTOMER).byteLength;
  process.stdout.write(`${JSON.stringify({ port, customerBytes, exportCount })}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`ceiling server failed: ${String(error)}\n`);
    process.exit(1);
  });
}
