import { create, toBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Invoice } from "../gen/chinook/v1/invoice_pb";
import { CreateInvoiceRequestSchema } from "../gen/chinook/v1/invoice_service_pb";
import type { Executor } from "../src/db/transactions";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../src/errors";
import { Invoices, MAX_LINES_PER_PAGE, type CreateInvoiceInput } from "../src/invoices/invoices";
import { centsFromColumn, formatCents } from "../src/invoices/money";
import { MAX_LINES } from "../src/invoices/requests";
import type { InvoiceStore } from "../src/invoices/store";
import { postgresEngine, recording, sqliteEngine, type InvoiceEngine, type InvoiceEngineSetup } from "./support/invoice-engines";

/**
 * The invoices domain over each engine's store: the same assertions on
 * SQLite and on PostgreSQL, each on a fresh Chinook database of its own.
 */
const ENGINES: InvoiceEngineSetup[] = [sqliteEngine, postgresEngine];

const SEEDED_INVOICES = 412;
const MISSING_ID = 999_999n;
const CHEAP_TRACK = 1n; // 0.99
const VIDEO_TRACK = 2819n; // 1.99
const CUSTOMER_2_INVOICES_NEWEST_FIRST = [293n, 241n, 219n, 196n, 67n, 12n, 1n];

function requestBytes(input: CreateInvoiceInput): Uint8Array {
  const request = create(CreateInvoiceRequestSchema, {
    customerId: input.customerId,
    lines: [...input.lines],
    requestId: input.requestId ?? "",
    billingAddress: input.billing?.address,
    billingCity: input.billing?.city,
    billingState: input.billing?.state,
    billingCountry: input.billing?.country,
    billingPostalCode: input.billing?.postalCode,
  });
  return toBinary(CreateInvoiceRequestSchema, request);
}

describe.each(ENGINES)("invoices on $name", (setup) => {
  let engine: InvoiceEngine;
  let db: Executor;
  let store: InvoiceStore;
  let invoices: Invoices;

  beforeAll(async () => {
    engine = await setup.open();
    db = engine.db;
    store = engine.store();
    invoices = new Invoices(store);
  });

  afterAll(async () => {
    await engine.dispose();
  });

  function sell(input: CreateInvoiceInput, executor: Executor = db): Promise<Invoice> {
    return new Invoices(engine.store(executor)).create(input, requestBytes(input));
  }

  async function rowCounts(): Promise<{ invoices: bigint; items: bigint; requestIds: bigint }> {
    const count = async (table: "invoices" | "invoice_items" | "request_ids"): Promise<bigint> => {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<bigint | string>().as("n"))
        .executeTakeFirstOrThrow();
      return BigInt(row.n);
    };
    return { invoices: await count("invoices"), items: await count("invoice_items"), requestIds: await count("request_ids") };
  }

  async function priceCents(trackId: bigint): Promise<bigint> {
    const row = await db.selectFrom("tracks").select("UnitPrice").where("TrackId", "=", trackId).executeTakeFirstOrThrow();
    return centsFromColumn(row.UnitPrice);
  }

  async function setStatus(customerId: bigint, status: number): Promise<void> {
    await db.updateTable("customers").set({ status }).where("CustomerId", "=", customerId).execute();
  }

  /** Runs `attempt`, expects it to fail as described, and checks that it wrote nothing. */
  async function expectRefusedWithoutWrites(
    attempt: () => Promise<unknown>,
    errorClass: new (...args: never[]) => Error,
    message: string,
  ): Promise<void> {
    const before = await rowCounts();
    const failure = attempt();
    await expect(failure).rejects.toBeInstanceOf(errorClass);
    await expect(failure).rejects.toThrow(message);
    expect(await rowCounts()).toEqual(before);
  }

  /** The domain over a store whose database records every query it runs. */
  function recordingInvoices(): { invoices: Invoices; queries: ReturnType<typeof recording>["queries"] } {
    const recorded = recording(db);
    return { invoices: new Invoices(engine.store(recorded.db)), queries: recorded.queries };
  }

  describe("reading the seeded invoices", () => {
    it("gets invoice 1 with its two lines and Chinook's track names", async () => {
      const invoice = await invoices.get(1n);
      const tracks = await db.selectFrom("tracks").select(["TrackId", "Name"]).where("TrackId", "in", [2n, 4n]).execute();
      const nameOf = new Map(tracks.map((track) => [track.TrackId, track.Name]));

      expect(invoice.invoiceId).toBe(1n);
      expect(invoice.customerId).toBe(2n);
      expect(invoice.invoiceTime && timestampDate(invoice.invoiceTime).toISOString()).toBe("2009-01-01T00:00:00.000Z");
      expect(invoice.billingAddress).toBe("Theodor-Heuss-Straße 34");
      expect(invoice.billingCity).toBe("Stuttgart");
      expect(invoice.billingState).toBeUndefined();
      expect(invoice.billingCountry).toBe("Germany");
      expect(invoice.billingPostalCode).toBe("70174");
      expect(invoice.total).toBe("1.98");
      expect(invoice.lines.map((line) => [line.invoiceLineId, line.trackId, line.trackName, line.unitPrice, line.quantity])).toEqual([
        [1n, 2n, nameOf.get(2n), "0.99", 1],
        [2n, 4n, nameOf.get(4n), "0.99", 1],
      ]);
    });

    it("reads an invoice in two queries: the row, then lines joined with tracks", async () => {
      const recorded = recordingInvoices();
      await recorded.invoices.get(98n);
      expect(recorded.queries).toHaveLength(2);
      expect(recorded.queries[1]?.sql).toMatch(/join "tracks"/);
    });

    it("is NOT_FOUND for an unknown invoice", async () => {
      await expect(invoices.get(MISSING_ID)).rejects.toBeInstanceOf(NotFoundError);
      await expect(invoices.get(MISSING_ID)).rejects.toThrow(`invoice ${MISSING_ID} not found`);
    });

    it("has every seeded Total equal to the sum of its lines in cents", async () => {
      const rows = await db.selectFrom("invoices").select(["InvoiceId", "Total"]).execute();
      const items = await db.selectFrom("invoice_items").select(["InvoiceId", "UnitPrice", "Quantity"]).execute();
      const linesCents = new Map<bigint, bigint>();
      for (const item of items) {
        const line = centsFromColumn(item.UnitPrice) * BigInt(item.Quantity);
        linesCents.set(item.InvoiceId, (linesCents.get(item.InvoiceId) ?? 0n) + line);
      }

      expect(rows).toHaveLength(SEEDED_INVOICES);
      for (const row of rows) {
        expect([row.InvoiceId, centsFromColumn(row.Total)]).toEqual([row.InvoiceId, linesCents.get(row.InvoiceId)]);
        const invoice = await invoices.get(row.InvoiceId);
        const sum = invoice.lines.reduce((total, line) => total + BigInt(line.unitPrice.replace(".", "")) * BigInt(line.quantity), 0n);
        expect([row.InvoiceId, invoice.total]).toEqual([row.InvoiceId, formatCents(sum)]);
      }
    });
  });

  describe("list", () => {
    it("lists customer 2's seven invoices newest first, with their lines", async () => {
      const { invoices: listed, nextPageToken } = await invoices.list(2n, 100, "");

      expect(listed.map((invoice) => invoice.invoiceId)).toEqual(CUSTOMER_2_INVOICES_NEWEST_FIRST);
      expect(nextPageToken).toBe("");
      expect(listed).toEqual(await Promise.all(CUSTOMER_2_INVOICES_NEWEST_FIRST.map((id) => invoices.get(id))));
    });

    /** The two pages' queries: each page's invoices, then their lines. */
    async function twoPagesQueries(): Promise<ReturnType<typeof recording>["queries"]> {
      const recorded = recordingInvoices();
      const first = await recorded.invoices.list(2n, 3, "");
      await recorded.invoices.list(2n, 3, first.nextPageToken);
      return recorded.queries;
    }

    it("reads a page in two queries, by keyset rather than offset", async () => {
      const queries = await twoPagesQueries();
      expect(queries).toHaveLength(4);
      expect(queries[2]?.sql).not.toMatch(/offset/i);
    });

    (setup.name === "sqlite" ? it : it.skip)("searches the (CustomerId, InvoiceDate) index without sorting", async () => {
      const queryPlan = engine.queryPlan;
      if (queryPlan === undefined) throw new Error(`no query plans on ${setup.name}`);
      const [firstPage, firstLines, secondPage] = await twoPagesQueries();
      if (firstLines === undefined) throw new Error("the lines query was not logged");
      expect(queryPlan(firstLines)).toContain("SEARCH item USING INDEX IFK_InvoiceLineInvoiceId (InvoiceId=?)");
      for (const query of [firstPage, secondPage]) {
        if (query === undefined) throw new Error("a page query was not logged");
        const plan = queryPlan(query);
        expect(plan.some((step) => step.startsWith("SEARCH invoices USING INDEX invoices_customer_date_idx"))).toBe(true);
        expect(plan.filter((step) => step.includes("TEMP B-TREE"))).toEqual([]);
      }
    });

    it("pages of 3 add up to the full list, and an invoice created meanwhile is neither repeated nor makes one skip", async () => {
      const first = await invoices.list(2n, 3, "");
      const created = await sell({ customerId: 2n, lines: [{ trackId: CHEAP_TRACK, quantity: 1 }] });
      const second = await invoices.list(2n, 3, first.nextPageToken);
      const third = await invoices.list(2n, 3, second.nextPageToken);
      const paged = [...first.invoices, ...second.invoices, ...third.invoices].map((invoice) => invoice.invoiceId);

      expect([first.invoices.length, second.invoices.length, third.invoices.length]).toEqual([3, 3, 1]);
      expect(third.nextPageToken).toBe("");
      expect(paged).toEqual(CUSTOMER_2_INVOICES_NEWEST_FIRST);
      const now = await invoices.list(2n, 50, "");
      expect(now.invoices.map((invoice) => invoice.invoiceId)).toEqual([created.invoiceId, ...CUSTOMER_2_INVOICES_NEWEST_FIRST]);
    });

    it("breaks ties between invoices of the same second by id, across pages", async () => {
      const sameSecond = new Date("2030-05-06T07:08:09Z");
      const line = { trackId: CHEAP_TRACK, trackName: "For Those About To Rock (We Salute You)", quantity: 1, unitPriceCents: 99n };
      const billing = { address: null, city: null, state: null, country: null, postalCode: null };
      const ids: bigint[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push((await store.insert({ customerId: 19n, invoiceTime: sameSecond, billing, lines: [line] })).invoiceId);
      }

      const paged: bigint[] = [];
      let pageToken = "";
      do {
        const page = await invoices.list(19n, 2, pageToken);
        paged.push(...page.invoices.map((invoice) => invoice.invoiceId));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");

      expect(paged.slice(0, 5)).toEqual([...ids].reverse());
      expect(paged).toHaveLength(5 + 7);
    });

    it("cuts a page short, at whole invoices, once their lines pass MAX_LINES_PER_PAGE, and the next page goes on from there", async () => {
      const customerId = 20n;
      const seeded = (await invoices.list(customerId, 50, "")).invoices.map((invoice) => invoice.invoiceId);
      const line = (index: number) => ({ trackId: BigInt(index + 1), trackName: `track ${index + 1}`, quantity: 1, unitPriceCents: 99n });
      const lines = Array.from({ length: MAX_LINES }, (_, index) => line(index));
      const billing = { address: null, city: null, state: null, country: null, postalCode: null };
      const big: bigint[] = [];
      for (let i = 0; i < MAX_LINES_PER_PAGE / MAX_LINES + 2; i++) {
        const invoiceTime = new Date(Date.UTC(2031, 0, 1 + i));
        big.unshift((await store.insert({ customerId, invoiceTime, billing, lines })).invoiceId);
      }

      const first = await invoices.list(customerId, 50, "");
      const second = await invoices.list(customerId, 50, first.nextPageToken);

      expect(first.invoices.map((invoice) => invoice.invoiceId)).toEqual(big.slice(0, MAX_LINES_PER_PAGE / MAX_LINES));
      expect(first.invoices.flatMap((invoice) => invoice.lines)).toHaveLength(MAX_LINES_PER_PAGE);
      expect(second.invoices.map((invoice) => invoice.invoiceId)).toEqual([...big.slice(MAX_LINES_PER_PAGE / MAX_LINES), ...seeded]);
      expect(second.nextPageToken).toBe("");
    });

    it("is empty for a customer without invoices", async () => {
      expect(await invoices.list(MISSING_ID, 10, "")).toEqual({ invoices: [], nextPageToken: "" });
    });

    it("refuses a token issued for another customer and a forged token", async () => {
      const { nextPageToken } = await invoices.list(3n, 2, "");
      await expect(invoices.list(4n, 2, nextPageToken)).rejects.toThrow(InvalidArgumentError);
      await expect(invoices.list(3n, 2, "not-a-token")).rejects.toThrow("page_token");
    });
  });

  describe("create", () => {
    it("returns exactly what reading the invoice returns, without reading it back", async () => {
      const recorded = recordingInvoices();
      const lines = [
        { trackId: VIDEO_TRACK, quantity: 3 },
        { trackId: CHEAP_TRACK, quantity: 1 },
        { trackId: 3n, quantity: 2 },
      ];
      const input = { customerId: 7n, lines };
      const created = await recorded.invoices.create(input, requestBytes(input));
      expect(recorded.queries.map((query) => query.sql).filter((sql) => /from "invoice_items"/i.test(sql))).toEqual([]);
      expect(await invoices.get(created.invoiceId)).toEqual(created);
    });

    it("prices lines from tracks, writes every line and defaults billing to the customer's address", async () => {
      const before = await rowCounts();
      const startedAt = Math.floor(Date.now() / 1000) * 1000;
      const invoice = await sell({
        customerId: 3n,
        lines: [
          { trackId: CHEAP_TRACK, quantity: 2 },
          { trackId: VIDEO_TRACK, quantity: 3 },
        ],
      });
      const expectedCents = (await priceCents(CHEAP_TRACK)) * 2n + (await priceCents(VIDEO_TRACK)) * 3n;

      expect(invoice.total).toBe(formatCents(expectedCents));
      expect(invoice.total).toBe("7.95");
      expect(invoice).toEqual(await invoices.get(invoice.invoiceId));
      expect(invoice.lines.map((line) => [line.trackId, line.unitPrice, line.quantity])).toEqual([
        [CHEAP_TRACK, "0.99", 2],
        [VIDEO_TRACK, "1.99", 3],
      ]);
      const time = invoice.invoiceTime && timestampDate(invoice.invoiceTime).getTime();
      expect(time).toBeGreaterThanOrEqual(startedAt);
      expect(time).toBeLessThanOrEqual(Date.now());
      expect(await rowCounts()).toEqual({ ...before, invoices: before.invoices + 1n, items: before.items + 2n });

      const row = await db.selectFrom("invoices").selectAll().where("InvoiceId", "=", invoice.invoiceId).executeTakeFirstOrThrow();
      const customer = await db.selectFrom("customers").selectAll().where("CustomerId", "=", 3n).executeTakeFirstOrThrow();
      expect(row.InvoiceDate).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
      expect(row.Total).toBe(engine.moneyAsStored(expectedCents));
      expect([row.BillingAddress, row.BillingCity, row.BillingState, row.BillingCountry, row.BillingPostalCode]).toEqual([
        customer.Address,
        customer.City,
        customer.State,
        customer.Country,
        customer.PostalCode,
      ]);
      const items = await db
        .selectFrom("invoice_items")
        .select(["TrackId", "UnitPrice", "Quantity"])
        .where("InvoiceId", "=", invoice.invoiceId)
        .orderBy("InvoiceLineId")
        .execute();
      expect(items.map((item) => ({ ...item, Quantity: BigInt(item.Quantity) }))).toEqual([
        { TrackId: CHEAP_TRACK, UnitPrice: engine.moneyAsStored(await priceCents(CHEAP_TRACK)), Quantity: 2n },
        { TrackId: VIDEO_TRACK, UnitPrice: engine.moneyAsStored(await priceCents(VIDEO_TRACK)), Quantity: 3n },
      ]);
    });

    it("takes each billing field from the request when set, an empty string included", async () => {
      const invoice = await sell({
        customerId: 4n,
        lines: [{ trackId: CHEAP_TRACK, quantity: 1 }],
        billing: { city: "Bergen", postalCode: "" },
      });

      expect(invoice.billingAddress).toBe("Ullevålsveien 14");
      expect(invoice.billingCity).toBe("Bergen");
      expect(invoice.billingState).toBeUndefined();
      expect(invoice.billingCountry).toBe("Norway");
      expect(invoice.billingPostalCode).toBe("");
    });

    it("sells 1000 lines of 0.99 and 1.99 tracks for their exact sum", async () => {
      const tracks = await db
        .selectFrom("tracks")
        .select(["TrackId", "UnitPrice"])
        .where("TrackId", ">", 2503n)
        .orderBy("TrackId")
        .execute();
      const lines = tracks.map((track, i) => ({ trackId: track.TrackId, quantity: (i % 5) + 1 }));
      const expected = tracks.reduce((sum, track, i) => sum + centsFromColumn(track.UnitPrice) * BigInt((i % 5) + 1), 0n);

      const invoice = await sell({ customerId: 8n, lines });

      expect(new Set(tracks.map((track) => track.UnitPrice))).toEqual(new Set([engine.moneyAsStored(99n), engine.moneyAsStored(199n)]));
      expect(invoice.lines).toHaveLength(1000);
      expect(invoice.total).toBe(formatCents(expected));
    });

    it("reads back a whole total, which SQLite stores as an INTEGER and PostgreSQL as numeric text", async () => {
      const invoice = await sell({ customerId: 9n, lines: [{ trackId: CHEAP_TRACK, quantity: 100 }] });
      const stored = await db.selectFrom("invoices").select("Total").where("InvoiceId", "=", invoice.invoiceId).executeTakeFirstOrThrow();

      expect(typeof stored.Total).toBe(setup.name === "sqlite" ? "bigint" : "string");
      expect(stored.Total).toBe(engine.moneyAsStored(9900n));
      expect(invoice.total).toBe("99.00");
    });

    it("merges lines naming the same track into one line with the summed quantity", async () => {
      const invoice = await sell({
        customerId: 10n,
        lines: [
          { trackId: CHEAP_TRACK, quantity: 2 },
          { trackId: 2n, quantity: 1 },
          { trackId: CHEAP_TRACK, quantity: 3 },
        ],
      });

      expect(invoice.lines.map((line) => [line.trackId, line.quantity])).toEqual([
        [CHEAP_TRACK, 5],
        [2n, 1],
      ]);
      expect(invoice.total).toBe("5.94");
    });

    describe("refuses, writing nothing,", () => {
      const line = { trackId: CHEAP_TRACK, quantity: 1 };

      it("an invoice without lines", () =>
        expectRefusedWithoutWrites(() => sell({ customerId: 11n, lines: [] }), InvalidArgumentError, "lines: must contain at least one line"));

      it("more than 1000 lines", () =>
        expectRefusedWithoutWrites(
          () => sell({ customerId: 11n, lines: Array.from({ length: 1001 }, (_, i) => ({ trackId: BigInt(i + 1), quantity: 1 })) }),
          InvalidArgumentError,
          "lines: must contain at most 1000 lines",
        ));

      it.each([0, -1, 1001])("quantity %p", (quantity) =>
        expectRefusedWithoutWrites(
          () => sell({ customerId: 11n, lines: [line, { trackId: 2n, quantity }] }),
          InvalidArgumentError,
          "lines[1].quantity: must be between 1 and 1000",
        ));

      it("a fractional quantity, which only a caller bypassing protobuf could send", () =>
        expectRefusedWithoutWrites(
          () => invoices.create({ customerId: 11n, lines: [{ trackId: 2n, quantity: 1.5 }] }, new Uint8Array()),
          InvalidArgumentError,
          "lines[0].quantity: must be between 1 and 1000",
        ));

      it("a merged quantity above 1000", () =>
        expectRefusedWithoutWrites(
          () => sell({ customerId: 11n, lines: [{ trackId: 2n, quantity: 600 }, line, { trackId: 2n, quantity: 401 }] }),
          InvalidArgumentError,
          "lines[2].quantity",
        ));

      it("a track id that is not positive", () =>
        expectRefusedWithoutWrites(() => sell({ customerId: 11n, lines: [{ trackId: 0n, quantity: 1 }] }), InvalidArgumentError, "lines[0].track_id"));

      it("an unknown track in the last line", () =>
        expectRefusedWithoutWrites(
          () => sell({ customerId: 11n, lines: [line, { trackId: 2n, quantity: 1 }, { trackId: MISSING_ID, quantity: 1 }] }),
          NotFoundError,
          `lines[2].track_id: track ${MISSING_ID} not found`,
        ));

      it("an inactive customer", async () => {
        await setStatus(12n, 2);
        await expectRefusedWithoutWrites(() => sell({ customerId: 12n, lines: [line] }), FailedPreconditionError, "customer 12 is not active");
      });

      it("a suspended customer", async () => {
        await setStatus(13n, 3);
        await expectRefusedWithoutWrites(() => sell({ customerId: 13n, lines: [line] }), FailedPreconditionError, "customer 13 is not active");
      });

      it("a deleted customer", async () => {
        await setStatus(14n, 4);
        await expectRefusedWithoutWrites(() => sell({ customerId: 14n, lines: [line] }), FailedPreconditionError, "customer 14 is not active");
      });

      it("a customer that does not exist", () =>
        expectRefusedWithoutWrites(
          () => sell({ customerId: MISSING_ID, lines: [line] }),
          FailedPreconditionError,
          `customer ${MISSING_ID} does not exist`,
        ));

      it("a customer id that is not positive", () =>
        expectRefusedWithoutWrites(() => sell({ customerId: 0n, lines: [line] }), InvalidArgumentError, "customer_id"));

      it("a billing field longer than its column", () =>
        expectRefusedWithoutWrites(
          () => sell({ customerId: 11n, lines: [line], billing: { postalCode: "12345678901" } }),
          InvalidArgumentError,
          "billing_postal_code: must be at most 10 characters",
        ));

      it.each(["Main St\u0000 5", "\u001b[31mred\u001b[0m", "line\nbreak"])(
        "a billing address with control characters, which a customer's address refuses too: %j",
        (address) =>
          expectRefusedWithoutWrites(
            () => sell({ customerId: 11n, lines: [line], billing: { address } }),
            InvalidArgumentError,
            "billing_address: must not contain control characters",
          ),
      );
    });

    describe("with a request_id", () => {
      it("creates once and answers a retry with the same invoice", async () => {
        const input = { customerId: 15n, lines: [{ trackId: CHEAP_TRACK, quantity: 2 }], requestId: "0b1f6a52-8d0c-4c55-9d43-3d5f4f1c7a01" };
        const before = await rowCounts();

        const first = await sell(input);
        const retry = await sell(input);

        expect(retry).toEqual(first);
        expect(await rowCounts()).toEqual({ invoices: before.invoices + 1n, items: before.items + 1n, requestIds: before.requestIds + 1n });
      });

      it("answers a retry with the first invoice even after the customer became inactive", async () => {
        const input = { customerId: 16n, lines: [{ trackId: CHEAP_TRACK, quantity: 1 }], requestId: "6f0c8f0e-2f7a-4e7c-9a55-0c2b0e6b9d11" };
        const first = await sell(input);
        await setStatus(16n, 2);

        expect(await sell(input)).toEqual(first);
      });

      it("refuses the same id for a different request", async () => {
        const requestId = "c3d2b9f4-1e0a-4b6f-8f7e-5a4d3c2b1a00";
        await sell({ customerId: 17n, lines: [{ trackId: CHEAP_TRACK, quantity: 1 }], requestId });

        await expectRefusedWithoutWrites(
          () => sell({ customerId: 17n, lines: [{ trackId: CHEAP_TRACK, quantity: 2 }], requestId }),
          InvalidArgumentError,
          "request_id",
        );
      });
    });

    it("rolls back with the caller's transaction when a later step fails", async () => {
      const input = { customerId: 18n, lines: [{ trackId: CHEAP_TRACK, quantity: 1 }], requestId: "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" };
      const before = await rowCounts();
      const created: Invoice[] = [];

      const outer = db.transaction().execute(async (tx) => {
        created.push(await sell(input, tx));
        throw new Error("a later step failed");
      });

      await expect(outer).rejects.toThrow("a later step failed");
      expect(await rowCounts()).toEqual(before);
      const [rolledBack] = created;
      if (rolledBack === undefined) throw new Error("the invoice was never created");
      await expect(invoices.get(rolledBack.invoiceId)).rejects.toBeInstanceOf(NotFoundError);
      const retried = await sell(input);
      expect(retried.customerId).toBe(18n);
    });
  });
});
