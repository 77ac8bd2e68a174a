/**
 * "The same email, but for case": what ListCustomers' `email` filter matches and
 * what the uniqueness of live emails compares. SQLite's NOCASE folds only A-Z,
 * so an address with any other letter (real Chinook has one:
 * "stanisław.wójcik@wp.pl", customer 49) is compared character by character
 * instead: each non-ASCII character matches its own lower- and upper-case forms.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from "kysely";
import type { Database } from "../db/schema";

type CustomerExpressions = ExpressionBuilder<Database, "customers">;

const LAST_CODE_POINT = "\u{10FFFF}";

/** Emails equal to `email` but for case, found through the NOCASE email index. */
export function sameEmail(eb: CustomerExpressions, email: string): Expression<SqlBool> {
  const characters = [...email];
  const firstWide = characters.findIndex(isWide);
  // The collation on the value makes SQLite use the NOCASE email indexes.
  if (firstWide === -1) return sql<SqlBool>`${sql.ref("Email")} = ${email} COLLATE NOCASE`;
  return eb.and([
    seekRange(eb, characters, firstWide),
    sql<SqlBool>`${sql.ref("Email")} LIKE ${likePattern(characters)} ESCAPE '\\'`,
    ...characters.flatMap((character, index) => (isWide(character) ? [caseFormAt(eb, index, character)] : [])),
  ]);
}

/**
 * Whether sameEmail is exactly NOCASE equality for `email` (all ASCII), which
 * the NOCASE unique index of live emails then enforces on its own.
 */
export function comparesAsNoCase(email: string): boolean {
  return ![...email].some(isWide);
}

function isWide(character: string): boolean {
  return (character.codePointAt(0) ?? 0) > 0x7f;
}

/** A character's lower- and upper-case forms that are themselves one non-ASCII character. */
function caseForms(character: string): string[] {
  const forms = new Set([character, character.toLowerCase(), character.toUpperCase()]);
  return [...forms].filter((form) => [...form].length === 1 && isWide(form));
}

/**
 * One range of the NOCASE email index holding every match, so the match seeks
 * rather than scans: the ASCII prefix, then the first other character between
 * its smallest and largest case form (one range, which SQLite seeks; an OR of
 * one range per form it would rather scan).
 */
function seekRange(eb: CustomerExpressions, characters: readonly string[], firstWide: number): Expression<SqlBool> {
  const prefix = characters.slice(0, firstWide).join("");
  const forms = caseForms(characters[firstWide] ?? "").sort(byCodePoint);
  const email = sql<string>`${sql.ref("Email")} COLLATE NOCASE`;
  return eb.and([
    eb(email, ">=", prefix + (forms.at(0) ?? "")),
    eb(email, "<", prefix + (forms.at(-1) ?? "") + LAST_CODE_POINT),
  ]);
}

// SQLite compares text by its UTF-8 bytes, that is by code point (not by UTF-16 unit, as sort() would).
function byCodePoint(a: string, b: string): number {
  return (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0);
}

/** The ASCII characters as themselves (LIKE ignores their case), each other one as `_`. */
function likePattern(characters: readonly string[]): string {
  return characters.map((character) => (isWide(character) ? "_" : character.replace(/[\\%_]/, "\\$&"))).join("");
}

/** SQLite's substr counts characters, as `[...email]` does, from 1. */
function caseFormAt(eb: CustomerExpressions, index: number, character: string): Expression<SqlBool> {
  const stored = eb.fn<string>("substr", [eb.ref("Email"), eb.val(index + 1), eb.val(1)]);
  return eb(stored, "in", caseForms(character));
}
