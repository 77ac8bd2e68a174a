import { create } from "@bufbuild/protobuf";
import { Registry } from "prom-client";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { CachedCustomerStore } from "../src/customers/cache";
import type { CreateCustomerRequest, CustomerStore } from "../src/customers/repository";
import { FailedPreconditionError, NotFoundError } from "../src/errors";

/**
 * An in-memory store whose reads can be held after they have read: the
 * window in which a real database read has its answer but has not returned.
 */
class ControllableStore implements CustomerStore {
  readonly rows = new Map<bigint, Customer>();
  readonly reads: bigint[][] = [];
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

  stream(): never {
    throw new Error("not used");
  }

  private row(id: bigint): Customer {
    const customer = this.rows.get(id);
    if (customer === undefined) throw new NotFoundError(`customer ${id} not found`);
    return { ...customer };
  }

  private commit(customer: Customer): Customer {
    this.rows.set(customer.customerId, customer);
    return { ...customer };
  }
}

function customer(id: bigint, company: string): Customer {
  return create(CustomerSchema, { customerId: id, firstName: "Ada", lastName: "Lovelace", company });
}

function setup(maxEntries = 100): { inner: ControllableStore; cache: CachedCustomerStore; registry: Registry } {
  const inner = new ControllableStore();
  for (const id of [1n, 2n, 3n]) inner.rows.set(id, customer(id, "v1"));
  const registry = new Registry();
  return { inner, cache: new CachedCustomerStore(inner, { maxEntries, ttlMs: 0, registry }), registry };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find((value) => Object.entries(labels).every(([key, label]) => value.labels[key] === label));
  return match?.value ?? 0;
}

const setCompany = (company: string) => (current: Customer) => ({ ...current, company });

/** A customer is cached on its second read: read each id twice. */
async function cached(cache: CachedCustomerStore, ...ids: bigint[]): Promise<void> {
  for (const id of ids) {
    await cache.get(id);
    await cache.get(id);
  }
}

describe("CachedCustomerStore", () => {
  it("caches a customer on its second read, then serves it from the cache, counting hits and misses", async () => {
    const { inner, cache, registry } = setup();
    for (let read = 0; read < 3; read++) expect((await cache.get(1n)).company).toBe("v1");
    expect(inner.reads).toEqual([[1n], [1n]]);
    expect(await metricValue(registry, "customer_cache_misses_total")).toBe(2);
    expect(await metricValue(registry, "customer_cache_hits_total")).toBe(1);
    expect(await metricValue(registry, "customer_cache_hit_ratio")).toBeCloseTo(1 / 3);
  });

  it("keeps nothing but ids for customers read once, however many", async () => {
    const { inner, cache, registry } = setup();
    for (const id of [1n, 2n, 3n]) expect(Object.isFrozen(await cache.get(id))).toBe(false);
    expect(await metricValue(registry, "customer_cache_entries")).toBe(0);
    await cache.get(2n);
    await cache.get(2n);
    expect(inner.reads).toEqual([[1n], [2n], [3n], [2n]]);
    expect(await metricValue(registry, "customer_cache_entries")).toBe(1);
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

  it("does not cache NOT_FOUND", async () => {
    const { inner, cache } = setup();
    await expect(cache.get(9n)).rejects.toBeInstanceOf(NotFoundError);
    inner.rows.set(9n, customer(9n, "new"));
    expect((await cache.get(9n)).company).toBe("new");
  });

  type Write = (cache: CachedCustomerStore) => Promise<unknown>;
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
      throw new FailedPreconditionError("stale etag");
    };
    await expect(cache.update(1n, failing)).rejects.toBeInstanceOf(FailedPreconditionError);
    await cache.get(1n);
    expect(inner.reads).toEqual([[1n], [1n]]);
    expect(await metricValue(registry, "customer_cache_hits_total")).toBe(1);
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

  it("counts evictions when full", async () => {
    const { cache, registry } = setup(2);
    await cached(cache, 1n, 2n, 3n);
    expect(await metricValue(registry, "customer_cache_evictions_total", { reason: "size" })).toBe(1);
    expect(await metricValue(registry, "customer_cache_entries")).toBe(2);
  });
});
