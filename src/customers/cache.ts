import { LRUCache, type Perf } from "lru-cache";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Customer } from "../../gen/chinook/v1/customer_pb";
import type { OtherWrites } from "../db/other-writes";
import { freezeMessage } from "../grpc/frozen-messages";
import { Doorkeeper } from "./doorkeeper";
import { sizeBoundOnce } from "./size";
import {
  withinPageBytes,
  type CreateCustomerRequest,
  type CustomerApi,
  type CustomerFilter,
  type CustomerIdPage,
  type CustomerListQuery,
  type CustomerPage,
} from "./customers";

/** What the cache needs of the customers it fronts: pages as ids, too. */
export interface CacheableCustomers extends CustomerApi {
  listIds(query: CustomerListQuery): Promise<CustomerIdPage>;
}

export interface CustomerCacheOptions {
  /** Most customers kept, ≥ 1 (to cache nothing, do not build a cache). */
  maxEntries: number;
  /**
   * Most memory the customers kept may take, as customerSizeBound counts it:
   * a few customers near the size limits validation allows (~0.5 MB of text
   * each) must not fill the heap.
   */
  maxBytes: number;
  /** How long an entry may be served, in ms; 0 keeps it until evicted or invalidated. */
  ttlMs: number;
  registry: Registry;
  /**
   * Asked before a read is served from the cache, when other processes share
   * the database: "some" when one may have written since the last ask (the
   * whole cache is dropped), "unknown" when that cannot be told now (the read
   * skips the cache). The answer must hold for a moment after the call was
   * made. Unset, only this process writes.
   */
  otherWrites?: () => OtherWrites | Promise<OtherWrites>;
  /** Where the TTLs read the time in ms; performance.now() unless a test sets its own. */
  clock?: Perf;
}

/** Reads of one id in flight, and how many invalidations they have missed. */
interface ReadsInFlight {
  generation: number;
  readers: number;
}

interface ReadTicket {
  readonly id: bigint;
  readonly generation: number;
  readonly reads: ReadsInFlight;
}

/**
 * A read-through LRU cache for get and batchGet in front of another store.
 *
 * Writes go straight through; once one has committed (the inner call
 * resolved) it drops the ids it touched. A failed write drops nothing: it
 * changed nothing. So after a write returns, no read serves what it replaced.
 *
 * The classic race: a read misses, queries, and stores its result after a
 * write committed and invalidated meanwhile, caching the old customer. Each
 * id with reads in flight has a generation that every invalidation bumps; a
 * read stores its result only if the generation has not moved since it
 * started. Ids with no read in flight keep no generation, so memory stays
 * bounded by the cache and the reads under way.
 *
 * A customer is cached on its second read while its id is still remembered
 * among the last misses (a "doorkeeper", as in TinyLFU, of `maxEntries` ids):
 * customers read once and never again, such as random ids over a million
 * rows, would otherwise each be frozen, stored, aged into V8's old space and
 * evicted, for no hit. That churn cost ~27 µs and ~70 MB of RSS per
 * GetCustomer at 1M rows; the doorkeeper keeps only ids.
 *
 * A cached customer is frozen deep (freezeMessage) and handed out itself on a
 * hit: a caller cannot change what the next caller reads (an assignment
 * throws), and copying a customer per hit cost more than the lookup. The
 * adapter encodes a frozen customer once. Absent customers (NOT_FOUND) are
 * not cached.
 *
 * list reads the page's ids from the inner store and its customers through
 * the cache, so a page of customers read lately costs an index walk instead
 * of 50 rows to map and encode. Each customer is then as it was when read or
 * newer: a write committing between the two steps shows, even one that moves
 * a customer out of the page's filter.
 */
export class CachedCustomers implements CustomerApi {
  private readonly entries: LRUCache<bigint, Customer>;
  private readonly doorkeeper: Doorkeeper;
  private readonly readsInFlight = new Map<bigint, ReadsInFlight>();
  private readonly hits: Counter;
  private readonly misses: Counter;
  private readonly evictions: Counter<"reason">;
  private readonly flushes: Counter;
  private readonly otherWrites: () => OtherWrites | Promise<OtherWrites>;

  constructor(
    private readonly inner: CacheableCustomers,
    options: CustomerCacheOptions,
  ) {
    this.entries = new LRUCache<bigint, Customer>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: sizeBoundOnce,
      ttl: options.ttlMs,
      dispose: (_customer, _id, reason) => this.countEviction(reason),
      perf: options.clock,
    });
    this.doorkeeper = new Doorkeeper(options.maxEntries);
    const registers = [options.registry];
    this.hits = new Counter({ name: "customer_cache_hits_total", help: "Customer reads served from the cache.", registers });
    this.misses = new Counter({ name: "customer_cache_misses_total", help: "Customer reads that went to the database.", registers });
    this.evictions = new Counter({
      name: "customer_cache_evictions_total",
      help: "Customers dropped from the cache other than by invalidation, by reason: size or ttl.",
      labelNames: ["reason"],
      registers,
    });
    this.flushes = new Counter({
      name: "customer_cache_flushes_total",
      help: "Times the whole cache was dropped because another process wrote to the database.",
      registers,
    });
    this.otherWrites = options.otherWrites ?? (() => "none");
    registerCacheGauges(this.entries, this.hits, this.misses, registers);
  }

  async get(id: bigint): Promise<Customer> {
    const cached = this.lookup(id, this.entries.has(id) && (await this.servable()));
    if (cached !== undefined) return cached;
    const ticket = this.beginRead(id);
    try {
      return this.store(ticket, await this.inner.get(id));
    } finally {
      this.endRead(ticket);
    }
  }

  async batchGet(ids: readonly bigint[]): Promise<Customer[]> {
    return this.batchGetServing(ids, ids.some((id) => this.entries.has(id)) && (await this.servable()));
  }

  async list(query: CustomerListQuery): Promise<CustomerPage> {
    // Asked alongside the page's ids, not after: the answer is as fresh, and the call waits for one round trip.
    const [{ customerIds, tokenAfter, ...page }, servable] = await Promise.all([
      this.inner.listIds(query),
      this.entries.size > 0 && this.servable(),
    ]);
    return withinPageBytes({ customers: await this.batchGetServing(customerIds, servable), ...page }, tokenAfter);
  }

  stream(filter: CustomerFilter, batchSize?: number): AsyncIterable<Customer> {
    return this.inner.stream(filter, batchSize);
  }

  async create(customer: Customer, requestId?: string): Promise<Customer> {
    // A retried idempotent create returns an existing customer: drop any stale copy of it.
    return this.invalidatingOne(await this.inner.create(customer, requestId));
  }

  async batchCreate(requests: readonly CreateCustomerRequest[]): Promise<Customer[]> {
    const created = await this.inner.batchCreate(requests);
    this.invalidate(created.map((customer) => customer.customerId));
    return created;
  }

  async update(id: bigint, change: (current: Customer) => Customer, expectedEtag?: string): Promise<Customer> {
    return this.invalidatingOne(await this.inner.update(id, change, expectedEtag));
  }

  async softDelete(id: bigint, expectedEtag?: string): Promise<Customer> {
    return this.invalidatingOne(await this.inner.softDelete(id, expectedEtag));
  }

  async undelete(id: bigint): Promise<Customer> {
    return this.invalidatingOne(await this.inner.undelete(id));
  }

  /** batchGet, with what cached may serve it or not. */
  private async batchGetServing(ids: readonly bigint[], servable: boolean): Promise<Customer[]> {
    const found = new Map<bigint, Customer>();
    const missing: bigint[] = [];
    for (const id of new Set(ids)) {
      const cached = this.lookup(id, servable);
      if (cached === undefined) missing.push(id);
      else found.set(id, cached);
    }
    if (missing.length > 0) {
      for (const customer of await this.fetchAndStore(missing)) found.set(customer.customerId, customer);
    }
    return ids.map((id) => foundOrThrow(found, id));
  }

  /** Absent (NOT_FOUND from the inner store) ids fail the whole call, as uncached. */
  private async fetchAndStore(ids: readonly bigint[]): Promise<Customer[]> {
    const tickets = ids.map((id) => this.beginRead(id));
    try {
      const customers = await this.inner.batchGet(ids);
      return customers.map((customer, index) => {
        const ticket = tickets[index];
        return ticket === undefined ? customer : this.store(ticket, customer);
      });
    } finally {
      tickets.forEach((ticket) => this.endRead(ticket));
    }
  }

  /**
   * Whether this read may be served from the cache; first drops it all if
   * another process wrote meanwhile. Asked only when something cached may
   * serve it: a read that misses anyway needs no answer, as a flush stops
   * reads under way from storing (store), and a customer stored stale is
   * dropped by the flush the next ask brings, before it is served.
   */
  private async servable(): Promise<boolean> {
    const otherWrites = await this.otherWrites();
    if (otherWrites === "some") this.flush();
    return otherWrites === "none";
  }

  private lookup(id: bigint, servable: boolean): Customer | undefined {
    const cached = servable ? this.entries.get(id) : undefined;
    (cached === undefined ? this.misses : this.hits).inc();
    return cached;
  }

  private beginRead(id: bigint): ReadTicket {
    let reads = this.readsInFlight.get(id);
    if (reads === undefined) {
      reads = { generation: 0, readers: 0 };
      this.readsInFlight.set(id, reads);
    }
    reads.readers += 1;
    return { id, generation: reads.generation, reads };
  }

  private endRead({ id, reads }: ReadTicket): void {
    reads.readers -= 1;
    if (reads.readers === 0) this.readsInFlight.delete(id);
  }

  /**
   * Caches the customer read, frozen, if its id was missed once lately and no
   * write committed since the read began; returns what the reader gets.
   */
  private store(ticket: ReadTicket, customer: Customer): Customer {
    if (ticket.reads.generation !== ticket.generation || !this.doorkeeper.admits(ticket.id)) return customer;
    const frozen = freezeMessage(customer);
    this.entries.set(ticket.id, frozen);
    return frozen;
  }


  private invalidatingOne(customer: Customer): Customer {
    this.invalidate([customer.customerId]);
    return customer;
  }

  private invalidate(ids: readonly bigint[]): void {
    for (const id of ids) {
      this.entries.delete(id);
      const reads = this.readsInFlight.get(id);
      if (reads !== undefined) reads.generation += 1;
    }
  }

  /** Drops every customer, and keeps reads under way from storing what they read before. */
  private flush(): void {
    this.entries.clear();
    for (const reads of this.readsInFlight.values()) reads.generation += 1;
    this.flushes.inc();
  }

  private countEviction(reason: LRUCache.DisposeReason): void {
    if (reason === "evict") this.evictions.inc({ reason: "size" });
    else if (reason === "expire") this.evictions.inc({ reason: "ttl" });
  }
}

function registerCacheGauges(
  entries: LRUCache<bigint, Customer>,
  hits: Counter,
  misses: Counter,
  registers: Registry[],
): void {
  new Gauge({
    name: "customer_cache_entries",
    help: "Customers in the cache.",
    registers,
    collect() {
      this.set(entries.size);
    },
  });
  new Gauge({
    name: "customer_cache_hit_ratio",
    help: "Hits over hits plus misses since the start; 0 before any read.",
    registers,
    async collect() {
      const [hitCount, missCount] = await Promise.all([counterValue(hits), counterValue(misses)]);
      const lookups = hitCount + missCount;
      this.set(lookups === 0 ? 0 : hitCount / lookups);
    },
  });
}

async function counterValue(counter: Counter): Promise<number> {
  const { values } = await counter.get();
  return values[0]?.value ?? 0;
}

function foundOrThrow(found: ReadonlyMap<bigint, Customer>, id: bigint): Customer {
  const customer = found.get(id);
  // The inner store fails the batch on any missing id, so this means it broke its contract.
  if (customer === undefined) throw new Error(`the customer store returned no customer ${id}`);
  return customer;
}
