import { randomUUID } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { parseSamples, sampleValue } from "./support/prometheus";
import { startTestServer } from "./support/server";

const WRITERS = 6;
const READERS = 4;
const ROUNDS = 30;

/**
 * Writers increment a counter stored in `company` by read-modify-write with
 * the etag, so committed values rise by one per successful update. Every read,
 * through get, batchGet or list, must see at least the highest value whose update
 * had returned before the read began; a stale cache entry would not.
 */
describe("the read cache under concurrent writes and reads of one customer", () => {
  it("never serves a customer older than an update that has returned", async () => {
    // No TTL: only invalidation can keep the cache fresh.
    const server = await startTestServer({ METRICS_ADDR: "127.0.0.1:0", CACHE_TTL_MS: "0" });
    try {
      const client = server.client(CustomerService);
      const email = `${randomUUID()}@example.com`;
      const { customerId } = await client.createCustomer({
        customer: { firstName: "Race", lastName: "Condition", email, company: "0" },
      });
      let returnedFloor = 0;
      let successfulUpdates = 0;
      const staleReads: Array<{ read: number; floor: number }> = [];

      const checkedRead = async (read: () => Promise<string>): Promise<string> => {
        const floor = returnedFloor;
        const company = await read();
        if (Number(company) < floor) staleReads.push({ read: Number(company), floor });
        return company;
      };
      const get = () => checkedRead(async () => (await client.getCustomer({ customerId })).company ?? "");
      const batchGet = () =>
        checkedRead(async () => {
          const { customers } = await client.batchGetCustomers({ customerIds: [1n, customerId] });
          return customers[1]?.company ?? "";
        });
      const list = () =>
        checkedRead(async () => {
          const { customers } = await client.listCustomers({ email });
          return customers[0]?.company ?? "";
        });
      const reads = [get, batchGet, list];

      const writer = async () => {
        for (let round = 0; round < ROUNDS; round += 1) {
          const floor = returnedFloor;
          const current = await client.getCustomer({ customerId });
          if (Number(current.company) < floor) staleReads.push({ read: Number(current.company), floor });
          try {
            const updated = await client.updateCustomer({
              customer: { customerId, company: String(Number(current.company) + 1), etag: current.etag },
              updateMask: { paths: ["company"] },
            });
            successfulUpdates += 1;
            returnedFloor = Math.max(returnedFloor, Number(updated.company));
          } catch (error) {
            // Another writer got there first: the etag is stale. Anything else is a failure.
            if ((error as ServiceError).code !== status.FAILED_PRECONDITION) throw error;
          }
        }
      };
      const reader = async () => {
        for (let round = 0; round < ROUNDS; round += 1) await reads[round % reads.length]?.();
      };

      await Promise.all([...Array.from({ length: WRITERS }, writer), ...Array.from({ length: READERS }, reader)]);

      expect(staleReads).toEqual([]);
      expect(successfulUpdates).toBeGreaterThan(0);
      expect(await get()).toBe(String(successfulUpdates));
      const samples = parseSamples(await server.scrapeMetrics());
      expect(sampleValue(samples, "customer_cache_hits_total")).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });
});

describe("CACHE_SIZE=0", () => {
  it("serves straight from the database, with no cache metrics", async () => {
    const server = await startTestServer({ METRICS_ADDR: "127.0.0.1:0", CACHE_SIZE: "0" });
    try {
      const client = server.client(CustomerService);
      await client.getCustomer({ customerId: 1n });
      await client.getCustomer({ customerId: 1n });

      const samples = parseSamples(await server.scrapeMetrics());
      expect(samples.filter((sample) => sample.name.startsWith("customer_cache_"))).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
