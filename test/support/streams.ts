import { CustomerService } from "../../gen/chinook/v1/customer_service_pb";
import type { TestServer } from "./server";

/** Every item of a stream, once it has ended; rejects as the stream fails. */
export async function readAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const received: T[] = [];
  for await (const item of stream) received.push(item);
  return received;
}

/** Customers of ~8 KB each: an export of a few dozen of them fills the transport's flow-control window. */
export async function addBulkyCustomers(server: TestServer, count: number): Promise<void> {
  await server.client(CustomerService).batchCreateCustomers({ requests: bulkyCustomers(count) });
}

/** BatchCreateCustomers' requests for `count` customers of ~8 KB each. */
export function bulkyCustomers(count: number) {
  return Array.from({ length: count }, (_, index) => ({
    customer: {
      firstName: "Bulky",
      lastName: `Customer ${index}`,
      email: `bulky.${index}@example.com`,
      profile: {
        notes: "n".repeat(4000),
        attributes: Object.fromEntries(["a", "b", "c", "d"].map((key) => [key, "v".repeat(1000)])),
      },
    },
  }));
}
