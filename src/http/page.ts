import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import path from "node:path";
import type { Logger } from "../logger";

/**
 * The browser page (web/, built by `npm run build` into dist/web): served on
 * the HTTP door at `/`, from a fixed list of files read once, never from a
 * path the request names.
 */

/** What the page needs of a request, from node:http or node:http2 alike. */
export interface PageRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

export interface PageResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(body: Uint8Array): unknown;
}

/** dist/web beside the compiled service (dist/src/http/page.js); run from its TypeScript source (ts-jest), the same build. */
const PAGE_DIRECTORY =
  path.extname(__filename) === ".ts" ? path.resolve(__dirname, "../../dist/web") : path.resolve(__dirname, "../../web");

const FILES: Readonly<Record<string, { readonly file: string; readonly contentType: string }>> = {
  "/": { file: "index.html", contentType: "text/html; charset=utf-8" },
  "/index.html": { file: "index.html", contentType: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", contentType: "text/javascript; charset=utf-8" },
  "/app.js.map": { file: "app.js.map", contentType: "application/json; charset=utf-8" },
  "/style.css": { file: "style.css", contentType: "text/css; charset=utf-8" },
};

/** Scripts and styles from this origin only (none inline), calls to this origin only, never framed. */
const SECURITY_HEADERS: OutgoingHttpHeaders = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

const NO_BODY = new Uint8Array(0);

interface PageFile {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

/** The page's files by URL path; empty when the page was not built. */
type Page = ReadonlyMap<string, PageFile>;

let page: Page | undefined;

function loadedPage(): Page {
  page ??= readPage();
  return page;
}

function readPage(): Page {
  const files = new Map<string, PageFile>();
  try {
    for (const [urlPath, { file, contentType }] of Object.entries(FILES)) {
      const body = readFileSync(path.join(PAGE_DIRECTORY, file));
      files.set(urlPath, { body, contentType, etag: etagOf(body) });
    }
  } catch {
    return new Map();
  }
  return files;
}

function etagOf(body: Buffer): string {
  return `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
}

/** One startup line when the page cannot be served, so that a 404 at / has its reason in the log. */
export function warnIfPageMissing(logger: Logger): void {
  if (loadedPage().size === 0) {
    logger.warn({ directory: PAGE_DIRECTORY }, "the browser page is not built (run npm run build): / answers 404");
  }
}

/** Answers a GET or HEAD of one of the page's files and returns true; returns false for anything else. */
export function servePage(request: PageRequest, response: PageResponse): boolean {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  const urlPath = (request.url ?? "").split("?", 1)[0] ?? "";
  const file = loadedPage().get(urlPath);
  if (file === undefined) return false;
  const headers = { ...SECURITY_HEADERS, "cache-control": "no-cache", etag: file.etag };
  if (matchesEtag(request.headers["if-none-match"], file.etag)) {
    response.writeHead(304, headers);
    response.end(NO_BODY);
    return true;
  }
  response.writeHead(200, { ...headers, "content-type": file.contentType, "content-length": file.body.length });
  response.end(request.method === "HEAD" ? NO_BODY : file.body);
  return true;
}

/** If-None-Match: a list of entity tags, weak or strong, or "*" (RFC 9110 13.1.2, weak comparison). */
function matchesEtag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  return ifNoneMatch.split(",").some((tag) => {
    const trimmed = tag.trim();
    return trimmed === "*" || trimmed === etag || trimmed === `W/${etag}`;
  });
}
