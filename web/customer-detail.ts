import { create } from "@bufbuild/protobuf";
import type { Customer, CustomerProfile } from "../gen/chinook/v1/customer_pb";
import { ContactChannel, CustomerProfileSchema, CustomerStatus, LoyaltyTier } from "../gen/chinook/v1/customer_pb";
import type { Invoice } from "../gen/chinook/v1/invoice_pb";
import { describeError, LatestCall, type Api } from "./api";
import { bodyOf, byId, fillDescriptions, showStatus, textCell } from "./dom";
import { dateTime, enumLabel, joined, yesNo } from "./format";

/** One customer: its fields, its profile and its invoices, newest first. */
export class CustomerDetail {
  private readonly section = byId("customer", HTMLElement);
  private readonly heading = byId("customer-heading", HTMLHeadingElement);
  private readonly status = byId("customer-status", HTMLParagraphElement);
  private readonly details = byId("customer-details", HTMLDivElement);
  private readonly fields = byId("customer-fields", HTMLDListElement);
  private readonly profile = byId("customer-profile", HTMLDListElement);
  private readonly invoicesStatus = byId("invoices-status", HTMLParagraphElement);
  private readonly invoices = byId("invoices", HTMLTableElement);
  private readonly moreInvoices = byId("more-invoices", HTMLButtonElement);
  private readonly close = byId("close-customer", HTMLButtonElement);
  private readonly call = new LatestCall();
  private customerId = 0n;
  private nextInvoices = "";
  private opener: HTMLElement | undefined;

  constructor(private readonly api: Api) {}

  start(): void {
    this.moreInvoices.addEventListener("click", () => void this.loadInvoices(this.call.begin()));
    this.close.addEventListener("click", () => this.hide());
  }

  async open(customerId: bigint, opener: HTMLElement): Promise<void> {
    const signal = this.call.begin();
    this.customerId = customerId;
    this.opener = opener;
    this.section.hidden = false;
    this.details.hidden = true;
    this.heading.textContent = `Customer ${customerId}`;
    showStatus(this.status, "Loading…");
    this.heading.focus();
    this.section.setAttribute("aria-busy", "true");
    await this.load(customerId, signal);
    if (!signal.aborted) this.section.setAttribute("aria-busy", "false");
  }

  private async load(customerId: bigint, signal: AbortSignal): Promise<void> {
    try {
      const customer = await this.api.customers.getCustomer({ customerId }, { signal });
      if (signal.aborted) return;
      this.showCustomer(customer);
    } catch (error) {
      if (!signal.aborted) showStatus(this.status, describeError(error), "error");
      return;
    }
    bodyOf(this.invoices).replaceChildren();
    this.invoices.hidden = true;
    this.moreInvoices.hidden = true;
    this.nextInvoices = "";
    showStatus(this.invoicesStatus, "Loading invoices…");
    await this.loadInvoices(signal);
  }

  private hide(): void {
    this.call.cancel();
    this.section.setAttribute("aria-busy", "false");
    this.section.hidden = true;
    if (this.opener?.isConnected) this.opener.focus();
  }

  private showCustomer(customer: Customer): void {
    this.heading.textContent = `${customer.firstName} ${customer.lastName}`;
    showStatus(this.status, "");
    fillDescriptions(this.fields, customerFields(customer));
    // An unset profile is an empty one: every field at its default.
    fillDescriptions(this.profile, profileFields(customer.profile ?? create(CustomerProfileSchema)));
    this.details.hidden = false;
  }

  private async loadInvoices(signal: AbortSignal): Promise<void> {
    this.moreInvoices.disabled = true;
    try {
      const request = { customerId: this.customerId, pageToken: this.nextInvoices };
      const response = await this.api.invoices.listInvoices(request, { signal });
      if (signal.aborted) return;
      bodyOf(this.invoices).append(...response.invoices.map(invoiceRow));
      this.nextInvoices = response.nextPageToken;
      const count = bodyOf(this.invoices).rows.length;
      this.invoices.hidden = count === 0;
      showStatus(this.invoicesStatus, count === 0 ? "No invoices yet." : "");
    } catch (error) {
      if (!signal.aborted) showStatus(this.invoicesStatus, describeError(error), "error");
    }
    if (signal.aborted) return;
    this.moreInvoices.hidden = this.nextInvoices === "";
    this.moreInvoices.disabled = false;
  }
}

function customerFields(customer: Customer): Array<[string, string]> {
  return [
    ["Customer number", String(customer.customerId)],
    ["Email", customer.email],
    ["Company", customer.company ?? ""],
    ["Phone", customer.phone ?? ""],
    ["Fax", customer.fax ?? ""],
    ["Address", joined([customer.address, customer.city, customer.state, customer.postalCode, customer.country])],
    ["Support representative", customer.supportRepId === undefined ? "" : `Employee ${customer.supportRepId}`],
    ["Status", enumLabel(CustomerStatus, customer.status)],
    ["Created", dateTime(customer.createTime)],
    ["Updated", dateTime(customer.updateTime)],
  ];
}

function profileFields(profile: CustomerProfile): Array<[string, string]> {
  return [
    ["Loyalty tier", enumLabel(LoyaltyTier, profile.loyaltyTier)],
    ["Tags", profile.tags.join(", ")],
    ["Favourite genres", profile.favoriteGenreIds.join(", ")],
    ["Marketing opt-in", yesNo(profile.marketingOptIn)],
    ["Preferred contact", enumLabel(ContactChannel, profile.preferredContact)],
    ["Last contact", dateTime(profile.lastContactTime)],
    ["Notes", profile.notes],
    ["Attributes", Object.entries(profile.attributes).map(([key, value]) => `${key}: ${value}`).join("; ")],
  ];
}

function invoiceRow(invoice: Invoice): HTMLTableRowElement {
  const row = document.createElement("tr");
  textCell(row, String(invoice.invoiceId));
  textCell(row, dateTime(invoice.invoiceTime));
  textCell(row, joined([invoice.billingCity, invoice.billingCountry]));
  textCell(row, String(invoice.lines.reduce((tracks, line) => tracks + line.quantity, 0)), "number");
  textCell(row, invoice.total, "number");
  return row;
}
