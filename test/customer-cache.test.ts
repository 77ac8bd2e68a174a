import { create } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { CachedCustomers, type CacheableCustomers, type CustomerCacheOptions } from "../src/customers/cache";
import {
  parseOrderBy,
  type CreateCustomerRequest,
  type CustomerIdPage,
  type CustomerListQuery,
} from "../src/customers/customers";
import { FailedPreconditionError, NotFoundError } from "../src/errors";
import { registryValue } from "./support/prometheus";

/**
 * An in-memory store whose reads can be held after they have read: the
 * window in which a real database read has its answer but has not returned.
 */
class ControllableStore implements CacheableCustomers {
  readonly rows = new Map<bigint, Customer>();
  readonly reads: bigint[][] = [];
  /** What listIds reports as total_size when the query knows none; and the queries it was given. */
  totalSize = 3;
  readonly listings: CustomerListQuery[] = [];
  private held: Array<() => void> | undefined;

  holdReads(): void {
    this.held = [];
  }

  releaseReads(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const release of held) release();
  }

  async get(id: bigint): Promise<Customer> {
    const [customer] = await this.batchGet([id]);
    if (customer === undefined) throw new Error("unreachable");
    return customer;
  }

  async batchGet(ids: readonly bigint[]): Promise<Customer[]> {
    this.reads.push([...ids]);
    const snapshot = ids.map((id) => this.row(id));
    const held = this.held;
    if (held !== undefined) await new Promise<void>((resolve) => held.push(resolve));
    return snapshot;
  }

  async update(id: bigint, change: (current: Customer) => Customer): Promise<Customer> {
    return this.commit(change(this.row(id)));
  }

  async softDelete(id: bigint): Promise<Customer> {
    return this.commit({ ...this.row(id), company: "deleted" });
  }

  async undelete(id: bigint): Promise<Customer> {
    return this.commit({ ...this.row(id), company: "undeleted" });
  }

  /** Like an idempotent retry: returns (and rewrites) the customer with the given id. */
  async create(customer: Customer): Promise<Customer> {
    return this.commit(customer);
  }

  async batchCreate(requests: readonly CreateCustomerRequest[]): Promise<Customer[]> {
    return requests.map(({ customer }) => this.commit(customer));
  }

  list(): never {
    throw new Error("not used");
  }

  /** Every customer, in id order, on one page. */
  async listIds(query: CustomerListQuery): Promise<CustomerIdPage> {
    this.listings.push(query);
    const customerIds = [...this.rows.keys()].sort((a, b) => Number(a - b));
    const tokenAfter = (count: number) => `after ${String(customerIds[count - 1])}`;
    return { customerIds, nextPageToken: "", totalSize: this.totalSize, tokenAfter };
  }

  stream(): never {
    throw new Error("not used");
  }

  private row(id: bigint): Customer {
    const customer = this.rows.get(id);
    if (customer === undefined) throw new NotFoundError(`customer ${id} not found`, { reason: "CUSTOMER_NOT_FOUND" });
    return { ...customer };
  }

  private commit(customer: Customer): Customer {
    this.rows.set(customer.customerId, customer);
    return { ...customer };
  }
}

const MAX_BYTES = 1 << 20;

function customer(id: bigint, company: string): Customer {
  return create(CustomerSchema, { customerId: id, firstName: "Ada", lastName: "Lovelace", company });
}

type OtherWrites = NonNullable<CustomerCacheOptions["otherWrites"]>;

function setup(maxEntries = 100, otherWrites?: OtherWrites): { inner: ControllableStore; cache: CachedCustomers; registry: Registry } {
  const inner = new ControllableStore();
  for (const id of [1n, 2n, 3n]) inner.rows.set(id, customer(id, "v1"));
  const registry = new Registry();
  return { inner, cache: new CachedCustomers(inner, { maxEntries, maxBytes: MAX_BYTES, ttlMs: 0, registry, otherWrites }), registry };
}

const setCompany = (company: string) => (current: Customer) => ({ ...current, company });

/** A customer is cached on its second read: read each id twice. */
async function cached(cache: CachedCustomers, ...ids: bigint[]): Promise<void> {
  for (const id of ids) {
    await cache.get(id);
    await cache.get(id);
  }
}

describe("CachedCustomers", () => {
  it("caches a customer on its second read, then serves it from the cache, counting hits and misses", async () => {
    const { inner, cache, registry } = setup();
    for (let read = 0; read < 3; read++) expect((await cache.get(1n)).company).toBe("v1");
    expect(inner.reads).toEqual([[1n], [1n]]);
    expect(await registryValue(registry, "customer_cache_misses_total")).toBe(2);
    expect(await registryValue(registry, "customer_cache_hits_total")).toBe(1);
    expect(await registryValue(registry, "customer_cache_hit_ratio")).toBeCloseTo(1 / 3);
  });

  it("keeps nothing but ids for customers read once, however many", async () => {
    const { inner, cache, registry } = setup();
    for (const id of [1n, 2n, 3n]) expect(Object.isFrozen(await cache.get(id))).toBe(false);
    expect(await registryValue(registry, "customer_cache_entries")).toBe(0);
    await cache.get(2n);
    await cache.get(2n);
    expect(inner.reads).toEqual([[1n], [2n], [3n], [2n]]);
    expect(await registryValue(registry, "customer_cache_entries")).toBe(1);
  });

  it("hands out frozen customers, so no caller can change what the next one reads", async () => {
    const { inner, cache } = setup();
    inner.rows.set(4n, create(CustomerSchema, { customerId: 4n, company: "v1", profile: { tags: ["a"] } }));
    await cache.get(4n);
    for (const first of [await cache.get(4n), await cache.get(4n), ...(await cache.batchGet([4n]))]) {
      expect(() => {
        first.company = "scribbled";
      }).toThrow(TypeError);
      expect(() => first.profile?.tags.push("scribbled")).toThrow(TypeError);
    }
    const next = await cache.get(4n);
    expect(next.company).toBe("v1");
    expect(next.profile?.tags).toEqual(["a"]);
    expect(inner.reads).toEqual([[4n], [4n]]);
  });

  it("keeps the customers it holds within maxBytes, evicting the least recently used", async () => {
    const inner = new ControllableStore();
    const notes = "n".repeat(100_000); // ~300 kB as the cache counts it, close to the largest customers validation allows
    for (const id of [1n, 2n, 3n, 4n, 5n]) {
      inner.rows.set(id, create(CustomerSchema, { customerId: id, firstName: "Big", profile: { notes } }));
    }
    const registry = new Registry();
    const cache = new CachedCustomers(inner, { maxEntries: 100, maxBytes: MAX_BYTES, ttlMs: 0, registry });

    await cached(cache, 1n, 2n, 3n, 4n, 5n);

    expect(await registryValue(registry, "customer_cache_entries")).toBe(3);
    expect(await registryValue(registry, "customer_cache_evictions_total", { reason: "size" })).toBe(2);
    inner.reads.length = 0;
    await cache.get(5n);
    await cache.get(1n);
    expect(inner.reads).toEqual([[1n]]);
  });

  it("does not cache NOT_FOUND", async () => {
    const { inner, cache } = setup();
    await expect(cache.get(9n)).rejects.toBeInstanceOf(NotFoundError);
    inner.rows.set(9n, customer(9n, "new"));
    expect((await cache.get(9n)).company).toBe("new");
  });

  type Write = (cache: CachedCustomers) => Promise<unknown>;
  const writes: Array<[string, Write, string]> = [
    ["update", (cache) => cache.update(1n, setCompany("v2")), "v2"],
    ["softDelete", (cache) => cache.softDelete(1n), "deleted"],
    ["undelete", (cache) => cache.undelete(1n), "undeleted"],
    ["create (an idempotent retry)", (cache) => cache.create(customer(1n, "retried")), "retried"],
    ["batchCreate", (cache) => cache.batchCreate([{ customer: customer(1n, "batched") }]), "batched"],
  ];

  it.each(writes)("drops the customer once %s has committed", async (_name, write, expected) => {
    const { cache } = setup();
    await cached(cache, 1n);
    await write(cache);
    expect((await cache.get(1n)).company).toBe(expected);
  });

  it("keeps the entry when a write fails, since nothing changed", async () => {
    const { inner, cache, registry } = setup();
    await cached(cache, 1n);
    const failing = () => {
      throw new FailedPreconditionError("stale etag", { reason: "ETAG_MISMATCH" });
    };
    await expect(cache.update(1n, failing)).rejects.toBeInstanceOf(FailedPreconditionError);
    await cache.get(1n);
    expect(inner.reads).toEqual([[1n], [1n]]);
    expect(await registryValue(registry, "customer_cache_hits_total")).toBe(1);
  });

  it("does not store a read that began before a write committed and invalidated", async () => {
    const { inner, cache } = setup();
    await cache.get(1n); // the next read would be cached
    inner.holdReads();
    const staleRead = cache.get(1n); // has read v1, not yet returned
    await cache.update(1n, setCompany("v2")); // commits and invalidates meanwhile
    inner.releaseReads();
    expect((await staleRead).company).toBe("v1"); // it was concurrent with the write: fine

    expect((await cache.get(1n)).company).toBe("v2");
    expect(inner.reads).toEqual([[1n], [1n], [1n]]);
  });

  it("applies the same guard to batchGet", async () => {
    const { inner, cache } = setup();
    await cache.batchGet([1n, 2n]); // the next reads would be cached
    inner.holdReads();
    const staleRead = cache.batchGet([1n, 2n]);
    await cache.update(2n, setCompany("v2"));
    inner.releaseReads();
    await staleRead;

    const again = await cache.batchGet([1n, 2n]);
    expect(again.map((c) => c.company)).toEqual(["v1", "v2"]);
    expect(inner.reads).toEqual([[1n, 2n], [1n, 2n], [2n]]);
  });

  it("stores a read when no write interfered, even with other reads of the id in flight", async () => {
    const { inner, cache } = setup();
    await cache.get(1n);
    inner.holdReads();
    const reads = [cache.get(1n), cache.get(1n)];
    inner.releaseReads();
    await Promise.all(reads);
    await cache.get(1n);
    expect(inner.reads).toHaveLength(3);
  });

  it("answers batchGet in the order asked, duplicates included, fetching only the misses", async () => {
    const { inner, cache } = setup();
    await cached(cache, 2n);
    const customers = await cache.batchGet([3n, 2n, 1n, 3n]);
    expect(customers.map((c) => c.customerId)).toEqual([3n, 2n, 1n, 3n]);
    expect(customers[1]).toBe(await cache.get(2n));
    expect(inner.reads).toEqual([[2n], [2n], [3n, 1n]]);
  });

  it("fails batchGet on a missing id and caches nothing from that batch", async () => {
    const { inner, cache } = setup();
    await expect(cache.batchGet([1n, 9n])).rejects.toBeInstanceOf(NotFoundError);
    await cache.get(1n);
    expect(inner.reads).toEqual([[1n, 9n], [1n]]);
  });

  describe("list", () => {
    const firstPage = (country: string): CustomerListQuery => ({
      filter: { country, showDeleted: false },
      order: parseOrderBy(""),
      pageSize: 50,
      pageToken: "",
    });

    it("takes the page's ids from the store and its customers through the cache", async () => {
      const { inner, cache } = setup();
      for (let listing = 0; listing < 3; listing++) {
        const page = await cache.list(firstPage("USA"));
        expect(page.customers.map((c) => [c.customerId, c.company])).toEqual([
          [1n, "v1"],
          [2n, "v1"],
          [3n, "v1"],
        ]);
      }
      // Cached on their second read, like get: the third page read no customer.
      expect(inner.reads).toEqual([[1n, 2n, 3n], [1n, 2n, 3n]]);
      expect(inner.listings).toHaveLength(3);
    });

    it("shows a write that has committed", async () => {
      const { cache } = setup();
      await cache.list(firstPage("USA"));
      await cache.list(firstPage("USA"));
      await cache.update(2n, setCompany("v2"));
      const page = await cache.list(firstPage("USA"));
      expect(page.customers.map((c) => c.company)).toEqual(["v1", "v2", "v1"]);
    });
  });

  it("counts evictions when full", async () => {
    const { cache, registry } = setup(2);
    await cached(cache, 1n, 2n, 3n);
    expect(await registryValue(registry, "customer_cache_evictions_total", { reason: "size" })).toBe(1);
    expect(await registryValue(registry, "customer_cache_entries")).toBe(2);
  });
});

describe("CachedCustomers beside other processes", () => {
  /** What the database says of other processes' writes, asked before each read; "none" unless a test says otherwise. */
  function otherProcesses(): { says: ReturnType<OtherWrites>; ask: OtherWrites } {
    const state = { says: "none" as ReturnType<OtherWrites>, ask: () => state.says };
    return state;
  }

  /** The answer once, then "none" again: the database says "some" only on the first ask after a write. */
  function wroteOnce(other: ReturnType<typeof otherProcesses>): void {
    other.says = "some";
    const ask = other.ask;
    other.ask = () => {
      other.ask = ask;
      const said = other.says;
      other.says = "none";
      return said;
    };
  }

  it("drops every customer when another process wrote, and counts the flush", async () => {
    const other = otherProcesses();
    const { inner, cache, registry } = setup(100, () => other.ask());
    await cached(cache, 1n, 2n);
    inner.rows.set(1n, customer(1n, "written elsewhere"));
    wroteOnce(other);

    expect((await cache.get(1n)).company).toBe("written elsewhere");
    await cache.get(2n);
    expect(inner.reads.slice(4)).toEqual([[1n], [2n]]);
    expect(await registryValue(registry, "customer_cache_flushes_total")).toBe(1);
    expect(await registryValue(registry, "customer_cache_entries")).toBe(0);
  });

  it("reads past the cache while it cannot tell, and keeps what it holds", async () => {
    const other = otherProcesses();
    const { inner, cache, registry } = setup(100, () => other.ask());
    await cached(cache, 1n);
    other.says = "unknown";
    await cache.batchGet([1n]);
    expect(inner.reads).toEqual([[1n], [1n], [1n]]);

    other.says = "none";
    await cache.get(1n);
    expect(inner.reads).toHaveLength(3);
    expect(await registryValue(registry, "customer_cache_flushes_total")).toBe(0);
  });

  it("does not store a read that began before another process's write was noticed", async () => {
    const other = otherProcesses();
    const { inner, cache } = setup(100, () => other.ask());
    await cached(cache, 2n);
    await cache.get(1n); // the next read would be cached
    inner.holdReads();
    const staleRead = cache.get(1n); // has read v1, not yet returned
    inner.rows.set(1n, customer(1n, "written elsewhere"));
    wroteOnce(other);
    const noticing = cache.get(2n); // the next read served from the cache asks, and flushes
    await new Promise((resolve) => setImmediate(resolve));
    inner.releaseReads();
    expect((await staleRead).company).toBe("v1");
    await noticing;

    const reads = inner.reads.length;
    expect((await cache.get(1n)).company).toBe("written elsewhere");
    expect(inner.reads).toHaveLength(reads + 1);
  });

  it("asks only when the cache holds a customer the read could be served", async () => {
    let asked = 0;
    const { cache } = setup(100, () => {
      asked++;
      return "none";
    });
    await cache.get(1n);
    await cache.batchGet([2n, 3n]);
    await cache.get(1n); // cached now
    expect(asked).toBe(0);

    await cache.get(1n);
    await cache.batchGet([1n, 2n]);
    await cache.list({ filter: { showDeleted: false }, order: parseOrderBy(""), pageSize: 50, pageToken: "" });
    expect(asked).toBe(3);
  });

  it("waits for an answer that takes a round trip: serves from the cache on none, reads the database on some", async () => {
    let answer: (said: "none" | "some") => void = () => undefined;
    const { inner, cache, registry } = setup(100, () => new Promise((resolve) => (answer = resolve)));
    await cached(cache, 1n);
    const reads = inner.reads.length;

    const hit = cache.get(1n);
    await new Promise((resolve) => setImmediate(resolve));
    expect(inner.reads).toHaveLength(reads);
    answer("none");
    expect((await hit).company).toBe("v1");
    expect(inner.reads).toHaveLength(reads);

    inner.rows.set(1n, customer(1n, "written elsewhere"));
    const flushed = cache.get(1n);
    await new Promise((resolve) => setImmediate(resolve));
    answer("some");
    expect((await flushed).company).toBe("written elsewhere");
    expect(inner.reads).toHaveLength(reads + 1);
    expect(await registryValue(registry, "customer_cache_flushes_total")).toBe(1);
  });
});
