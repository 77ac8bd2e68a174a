import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";

export interface Api {
  readonly customers: Client<typeof CustomerService>;
  readonly invoices: Client<typeof InvoiceService>;
}

/** The Connect protocol (JSON) to the server that served this page. */
export function createApi(): Api {
  const transport = createConnectTransport({ baseUrl: "/", defaultTimeoutMs: 10_000 });
  return { customers: createClient(CustomerService, transport), invoices: createClient(InvoiceService, transport) };
}

/**
 * One call at a time per view: starting a call cancels the one before, so a
 * slow answer never overwrites a newer one. Callers drop the outcome of a
 * call whose signal is aborted.
 */
export class LatestCall {
  private controller: AbortController | undefined;

  begin(): AbortSignal {
    this.controller?.abort();
    this.controller = new AbortController();
    return this.controller.signal;
  }

  cancel(): void {
    this.controller?.abort();
    this.controller = undefined;
  }
}

/** What a person reads when a call fails: the server's own message, or why there was none. */
export function describeError(error: unknown): string {
  const { code, rawMessage } = ConnectError.from(error);
  if (code === Code.Unavailable) return `The service is unavailable (${rawMessage}). Try again shortly.`;
  if (code === Code.DeadlineExceeded) return "The service took too long to answer. Try again.";
  return rawMessage;
}
