import { cors } from "@connectrpc/connect";
import { REQUEST_ID_KEY } from "../request-context";

/** What a browser may send and read beyond what Connect and gRPC-Web need: the request id. */
const ALLOWED_HEADERS = [...cors.allowedHeaders, REQUEST_ID_KEY].join(", ");
const EXPOSED_HEADERS = [...cors.exposedHeaders, REQUEST_ID_KEY].join(", ");
const ALLOWED_METHODS = cors.allowedMethods.join(", ");
/** How long a browser may reuse a preflight's answer, in seconds (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = "7200";

export interface CorsRequest {
  readonly method?: string | undefined;
  readonly headers: { readonly origin?: string | undefined; readonly [name: string]: string | string[] | undefined };
}

export interface CorsResponse {
  setHeader(name: string, value: string): unknown;
  writeHead(status: number): unknown;
  end(): unknown;
}

/**
 * Cross-origin calls from the browser pages of `origins` (exact origins,
 * `https://app.example`), with the headers Connect's `cors` lists; every
 * other origin gets no CORS header at all, so browsers keep their pages
 * out. None allowed by default.
 */
export class CorsPolicy {
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.origins = new Set(origins);
  }

  /**
   * Adds the CORS headers an answer to `request` needs; answers a preflight
   * itself (true), whatever its origin: the browser reads the verdict from
   * the headers.
   */
  apply(request: CorsRequest, response: CorsResponse): boolean {
    if (this.origins.size > 0) response.setHeader("vary", "Origin");
    const { origin } = request.headers;
    const allowed = origin !== undefined && this.origins.has(origin);
    if (allowed) {
      response.setHeader("access-control-allow-origin", origin);
      response.setHeader("access-control-expose-headers", EXPOSED_HEADERS);
    }
    if (!isPreflight(request)) return false;
    if (allowed) {
      response.setHeader("access-control-allow-methods", ALLOWED_METHODS);
      response.setHeader("access-control-allow-headers", ALLOWED_HEADERS);
      response.setHeader("access-control-max-age", PREFLIGHT_MAX_AGE_SECONDS);
    }
    response.writeHead(204);
    response.end();
    return true;
  }
}

function isPreflight(request: CorsRequest): boolean {
  return request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined;
}
