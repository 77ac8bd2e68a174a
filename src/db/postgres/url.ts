/**
 * PostgreSQL connection URLs carry a password: nothing logged, thrown or
 * measured may show one. Kept free of the driver so config.ts can use it.
 */

/** The URL schemes DATABASE_URL may use. */
export const POSTGRES_PROTOCOLS: readonly string[] = ["postgres:", "postgresql:"];

const REDACTED = "***";
/** Query parameters libpq and pg read a password or key material from. */
const SECRET_PARAMETERS = ["password", "sslpassword", "sslkey"];

/**
 * The URL with its password (and any password-like query parameter) replaced
 * by `***`. Text that is not a URL is not echoed at all: it may be a password.
 */
export function redactedUrl(url: string): string {
  // Without "//" there is no user:password part, and "scheme:user:password@host" parses with the password in its path.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return "(not a valid URL)";
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(not a valid URL)";
  }
  if (parsed.password !== "") parsed.password = REDACTED;
  for (const name of SECRET_PARAMETERS) {
    if (parsed.searchParams.has(name)) parsed.searchParams.set(name, REDACTED);
  }
  return parsed.toString();
}

/** Whether `url` is a postgres:// or postgresql:// URL. */
export function isPostgresUrl(url: string): boolean {
  return URL.canParse(url) && POSTGRES_PROTOCOLS.includes(new URL(url).protocol);
}

/** `url` naming another database of the same server, as the same user. */
export function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}
