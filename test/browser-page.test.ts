import { existsSync } from "node:fs";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { LoyaltyTier } from "../gen/chinook/v1/customer_pb";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { startTestServer, type TestServer } from "./support/server";

// The browser page (web/) in headless Chromium against the real server's HTTP door:
// what a person sees after searching, paging and opening a customer.

const CHROMIUM = "/usr/bin/chromium";
const BUILT_PAGE = path.resolve(__dirname, "../dist/web/app.js");

function withChromium(): { describe: jest.Describe; title: string } {
  const title = "the browser page";
  if (existsSync(CHROMIUM)) return { describe, title };
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
  return { describe: describe.skip, title: `${title} (skipped: ${CHROMIUM} is missing; apt-get install chromium)` };
}

const chromiumSuite = withChromium();

chromiumSuite.describe(chromiumSuite.title, () => {
  let server: TestServer;
  let browser: Browser;
  let origin: string;
  /** Content-Security-Policy violations and uncaught errors, of every page the test opened. */
  let problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(BUILT_PAGE)) throw new Error(`${BUILT_PAGE} is missing: run "npm run build" (npm test does)`);
    [server, browser] = await Promise.all([
      startTestServer({ HTTP_ADDR: "127.0.0.1:0" }),
      chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      }),
    ]);
    if (server.app.httpPort === undefined) throw new Error("the server did not open its HTTP door");
    origin = `http://127.0.0.1:${server.app.httpPort}`;
    await createAda(origin);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  beforeEach(() => {
    problems = [];
  });

  afterEach(() => {
    expect(problems).toEqual([]);
  });

  async function openPage(): Promise<Page> {
    const page = await browser.newPage();
    page.setDefaultTimeout(5_000);
    page.on("pageerror", (error) => problems.push(error.message));
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) problems.push(message.text());
    });
    await page.goto(`${origin}/`);
    await settled(page, "#results");
    return page;
  }

  it("lists the customers whose name starts with a prefix, in a country", async () => {
    const page = await openPage();
    await search(page, { namePrefix: "j", country: "USA" });

    expect(await resultsStatus(page).innerText()).toBe("3 customers match.");
    expect(await customerRows(page)).toEqual([
      ["Jack Smith", "jacksmith@microsoft.com", "Redmond", "USA"],
      ["John Gordon", "johngordon22@yahoo.com", "Boston", "USA"],
      ["Julia Barnett", "jubarnett@gmail.com", "Salt Lake City", "USA"],
    ]);
    await page.close();
  });

  it("pages forward with the next page token and back through the tokens it came by", async () => {
    const page = await openPage();
    const next = page.getByRole("button", { name: "Next" });
    const previous = page.getByRole("button", { name: "Previous" });
    const pages = [
      ["Page 1: 1–5 of 13", ["Frank Harris", "Jack Smith", "Michelle Brooks", "Tim Goyer", "Dan Miller"]],
      ["Page 2: 6–10 of 13", ["Kathy Chase", "Heather Leacock", "John Gordon", "Frank Ralston", "Victor Stevens"]],
      ["Page 3: 11–13 of 13", ["Richard Cunningham", "Patrick Gray", "Julia Barnett"]],
    ] as const;

    await search(page, { country: "USA", perPage: "5" });
    expect(await shownPage(page)).toEqual(pages[0]);
    expect(await previous.isDisabled()).toBe(true);

    await next.click();
    await settled(page, "#results");
    expect(await shownPage(page)).toEqual(pages[1]);
    await next.click();
    await settled(page, "#results");
    expect(await shownPage(page)).toEqual(pages[2]);
    expect(await next.isDisabled()).toBe(true);

    await previous.click();
    await settled(page, "#results");
    expect(await shownPage(page)).toEqual(pages[1]);
    await previous.click();
    await settled(page, "#results");
    expect(await shownPage(page)).toEqual(pages[0]);
    expect(await previous.isDisabled()).toBe(true);
    await page.close();
  });

  it("opens a customer with its details and its invoices, newest first, and goes back to the list", async () => {
    const page = await openPage();
    await search(page, { namePrefix: "Julia", country: "USA" });
    const opener = page.getByRole("button", { name: "Julia Barnett" });
    await opener.click();
    await settled(page, "#customer");

    const heading = page.getByRole("heading", { name: "Julia Barnett", level: 2 });
    expect(await heading.isVisible()).toBe(true);
    expect(await page.locator("#customer-heading:focus").count()).toBe(1);
    expect(await descriptions(page, "#customer-fields")).toMatchObject({
      Email: "jubarnett@gmail.com",
      Phone: "+1 (801) 531-7272",
      Address: "302 S 700 E, Salt Lake City, UT, 84102, USA",
      Status: "Active",
    });
    const invoices = await tableRows(page, "Invoices");
    expect(invoices.map(([invoice, , , , total]) => [invoice, total])).toEqual([
      ["363", "0.99"],
      ["311", "11.94"],
      ["289", "3.96"],
      ["266", "1.98"],
      ["137", "8.91"],
      ["82", "13.86"],
      ["71", "1.98"],
    ]);

    await page.getByRole("button", { name: "Back to the list" }).click();
    expect(await heading.isVisible()).toBe(false);
    expect(await page.locator(":focus").innerText()).toBe("Julia Barnett");
    await page.close();
  });

  it("shows a customer's profile and the tracks and total of its invoice", async () => {
    const page = await openPage();
    await search(page, { namePrefix: "Ada", country: "UK" });
    await page.getByRole("button", { name: "Ada Lovelace" }).click();
    await settled(page, "#customer");

    expect(await descriptions(page, "#customer-profile")).toMatchObject({
      "Loyalty tier": "Gold",
      Tags: "vip, beta",
      "Marketing opt-in": "Yes",
      Notes: "Prefers email",
    });
    const [invoice] = await tableRows(page, "Invoices");
    expect(invoice?.slice(2)).toEqual(["Cambridge, UK", "3", "2.97"]);
    await page.close();
  });

  it("says so when no customer matches", async () => {
    const page = await openPage();
    await search(page, { namePrefix: "Zzyzx" });

    expect(await resultsStatus(page).innerText()).toBe("No customers match these filters.");
    expect(await page.getByRole("table", { name: "Customers" }).isVisible()).toBe(false);
    expect(await page.getByRole("navigation", { name: "Pages of customers" }).isVisible()).toBe(false);
    await page.close();
  });

  it("shows the server's message for a request it refuses", async () => {
    const page = await openPage();
    await search(page, { country: "x".repeat(41) });

    expect(await resultsStatus(page).innerText()).toBe("country: must be at most 40 characters, got 41");
    expect(await page.getByRole("table", { name: "Customers" }).isVisible()).toBe(false);
    await page.close();
  });

  it("serves only the page's files, revalidated by etag, under a strict content security policy", async () => {
    const index = await fetch(`${origin}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("content-security-policy")).toMatch(/^default-src 'self'; connect-src 'self';/);
    expect(index.headers.get("x-content-type-options")).toBe("nosniff");
    expect(index.headers.get("referrer-policy")).toBe("no-referrer");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(await index.text()).toContain('<script type="module" src="app.js"></script>');

    const etag = index.headers.get("etag") ?? "";
    expect(etag).toMatch(/^".+"$/);
    expect((await fetch(`${origin}/`, { headers: { "if-none-match": etag } })).status).toBe(304);

    const script = await fetch(`${origin}/app.js`, { method: "HEAD" });
    expect([script.status, script.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    expect(await script.text()).toBe("");

    for (const other of ["/package.json", "/web/main.ts", "/dist/web/app.js", "/src/main.ts", "/index.htm"]) {
      expect([other, (await fetch(`${origin}${other}`)).status]).toEqual([other, 404]);
    }
    expect((await fetch(`${origin}/`, { method: "POST" })).status).toBe(404);
  });
});

interface SearchInput {
  readonly namePrefix?: string;
  readonly country?: string;
  readonly perPage?: string;
}

async function search(page: Page, { namePrefix = "", country = "", perPage = "10" }: SearchInput): Promise<void> {
  await page.getByLabel("Name starts with").fill(namePrefix);
  await page.getByLabel("Country").fill(country);
  await page.getByLabel("Per page").selectOption(perPage);
  await page.getByRole("button", { name: "Search" }).click();
  await settled(page, "#results");
}

/** Waits for the section's calls to end: it is aria-busy while one runs. */
async function settled(page: Page, section: string): Promise<void> {
  await page.locator(`${section}[aria-busy="false"]`).waitFor({ state: "attached" });
}

function resultsStatus(page: Page): Locator {
  return page.getByRole("region", { name: "Customers" }).getByRole("status");
}

async function tableRows(page: Page, name: string): Promise<string[][]> {
  const rows = page.getByRole("table", { name }).locator("tbody tr");
  return Promise.all((await rows.all()).map((row) => row.locator("td").allInnerTexts()));
}

function customerRows(page: Page): Promise<string[][]> {
  return tableRows(page, "Customers");
}

/** The pager's position and the names on the page shown. */
async function shownPage(page: Page): Promise<[string, string[]]> {
  const names = (await customerRows(page)).map(([name]) => name ?? "");
  return [await page.locator("#page-position").innerText(), names];
}

/** A description list as label → value. */
async function descriptions(page: Page, list: string): Promise<Record<string, string>> {
  const labels = await page.locator(`${list} dt`).allInnerTexts();
  const values = await page.locator(`${list} dd`).allInnerTexts();
  return Object.fromEntries(labels.map((label, index) => [label, values[index] ?? ""]));
}

/** A customer with a profile (Chinook's have none) and one invoice of three tracks, through the Connect protocol. */
async function createAda(origin: string): Promise<void> {
  const transport = createConnectTransport({ baseUrl: origin, httpVersion: "1.1" });
  const customer = await createClient(CustomerService, transport).createCustomer({
    customer: {
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      city: "Cambridge",
      country: "UK",
      profile: { loyaltyTier: LoyaltyTier.GOLD, tags: ["vip", "beta"], marketingOptIn: true, notes: "Prefers email" },
    },
  });
  await createClient(InvoiceService, transport).createInvoice({
    customerId: customer.customerId,
    lines: [
      { trackId: 1n, quantity: 1 },
      { trackId: 2n, quantity: 2 },
    ],
  });
}
