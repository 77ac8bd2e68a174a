import type { Customer } from "../gen/chinook/v1/customer_pb";
import type { ListCustomersResponse } from "../gen/chinook/v1/customer_service_pb";
import { describeError, LatestCall, type Api } from "./api";
import { bodyOf, byId, showStatus, textCell } from "./dom";
import { PagePosition, type Move } from "./paging";

/** What ListCustomers filters on; page tokens belong to one set of filters. */
interface Filters {
  readonly namePrefix: string | undefined;
  readonly country: string | undefined;
  readonly pageSize: number;
}

export type OpenCustomer = (customerId: bigint, opener: HTMLElement) => void;

/** The search form, the table of matching customers, and its pager. */
export class CustomerSearch {
  private readonly form = byId("search", HTMLFormElement);
  private readonly namePrefix = byId("name-prefix", HTMLInputElement);
  private readonly country = byId("country", HTMLInputElement);
  private readonly pageSize = byId("page-size", HTMLSelectElement);
  private readonly section = byId("results", HTMLElement);
  private readonly status = byId("results-status", HTMLParagraphElement);
  private readonly table = byId("customers", HTMLTableElement);
  private readonly previous = byId("previous-page", HTMLButtonElement);
  private readonly next = byId("next-page", HTMLButtonElement);
  private readonly pager = byId("pager", HTMLElement);
  private readonly position = byId("page-position", HTMLSpanElement);
  private readonly call = new LatestCall();
  private filters = this.readFilters();
  private pages = new PagePosition();

  constructor(
    private readonly api: Api,
    private readonly openCustomer: OpenCustomer,
  ) {}

  start(): void {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.filters = this.readFilters();
      this.pages = new PagePosition();
      void this.load("here");
    });
    this.previous.addEventListener("click", () => void this.load("previous"));
    this.next.addEventListener("click", () => void this.load("next"));
    void this.load("here");
  }

  private readFilters(): Filters {
    return {
      namePrefix: optional(this.namePrefix.value),
      country: optional(this.country.value),
      pageSize: Number(this.pageSize.value),
    };
  }

  private async load(move: Move): Promise<void> {
    const signal = this.call.begin();
    const pages = this.pages;
    this.setBusy(true);
    try {
      const response = await this.api.customers.listCustomers(
        { ...this.filters, pageToken: pages.tokenFor(move) },
        { signal },
      );
      if (signal.aborted) return;
      pages.arrived(move, response.customers.length, response.nextPageToken);
      this.show(response);
    } catch (error) {
      if (signal.aborted) return;
      // A failed search shows no rows; a failed move to another page keeps the page shown.
      if (move === "here") this.clearRows();
      showStatus(this.status, describeError(error), "error");
    } finally {
      if (!signal.aborted) this.setBusy(false);
    }
  }

  private setBusy(busy: boolean): void {
    this.section.setAttribute("aria-busy", String(busy));
    this.previous.disabled = busy || !this.pages.hasPrevious;
    this.next.disabled = busy || !this.pages.hasNext;
  }

  private clearRows(): void {
    bodyOf(this.table).replaceChildren();
    this.table.hidden = true;
    this.pager.hidden = true;
  }

  private show({ customers, totalSize }: ListCustomersResponse): void {
    if (customers.length === 0) {
      this.clearRows();
      showStatus(this.status, "No customers match these filters.");
      return;
    }
    bodyOf(this.table).replaceChildren(...customers.map((customer) => this.row(customer)));
    this.table.hidden = false;
    this.pager.hidden = false;
    const first = this.pages.rowsBefore + 1;
    const total = describeTotal(totalSize);
    showStatus(this.status, `${total} ${totalSize === 1 ? "customer matches" : "customers match"}.`);
    this.position.textContent = `Page ${this.pages.index + 1}: ${first}–${first + customers.length - 1} of ${total}`;
  }

  private row(customer: Customer): HTMLTableRowElement {
    const row = document.createElement("tr");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = `${customer.firstName} ${customer.lastName}`;
    open.addEventListener("click", () => this.openCustomer(customer.customerId, open));
    row.insertCell().append(open);
    textCell(row, customer.email);
    textCell(row, customer.city ?? "");
    textCell(row, customer.country ?? "");
    return row;
  }
}

/** Past 1,000 matches the server estimates the total (ListCustomersResponse.total_size). */
function describeTotal(totalSize: number): string {
  return totalSize > EXACT_TOTALS_UP_TO ? `About ${totalSize.toLocaleString()}` : totalSize.toLocaleString();
}

const EXACT_TOTALS_UP_TO = 1000;

/** An empty field filters nothing. */
function optional(value: string): string | undefined {
  const trimmed = value.trim();
  return trimmed === "" ? undefined : trimmed;
}
