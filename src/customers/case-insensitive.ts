/**
 * Text that is the same but for case, in SQL: what ListCustomers' `email` and
 * `name_prefix` filters match and what the uniqueness of live emails compares.
 * SQLite's NOCASE and LIKE fold only A-Z, so text with any other letter (real
 * Chinook has "stanisław.wójcik@wp.pl" and "Luís Gonçalves") is matched by one
 * LIKE per case variant of its first non-ASCII character (σ, ς and Σ; ß and
 * ẞ), each of which seeks its own range of the column's NOCASE index, and by a
 * check of each later non-ASCII character against its case class.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from "kysely";
import type { Database } from "../db/schema";

type CustomerExpressions = ExpressionBuilder<Database, "customers">;

/** The columns with NOCASE indexes that case-insensitive matches go through. */
export type CaselessColumn = "Email" | "FirstName" | "LastName";

const LIKE_ESCAPE = "\\";

/** Values of `column` equal to `text` but for case. */
export function sameText(eb: CustomerExpressions, column: CaselessColumn, text: string): Expression<SqlBool> {
  // The collation on the value makes SQLite use the column's NOCASE indexes.
  if (comparesAsNoCase(text)) return sql<SqlBool>`${sql.ref(column)} = ${text} COLLATE NOCASE`;
  return caselessLike(eb, column, [...text], "");
}

/** Values of `column` that start with `prefix` but for case. */
export function startsWithText(eb: CustomerExpressions, column: CaselessColumn, prefix: string): Expression<SqlBool> {
  return caselessLike(eb, column, [...prefix], "%");
}

/**
 * Whether sameText is exactly NOCASE equality for `text` (all ASCII), which a
 * NOCASE unique index then enforces on its own.
 */
export function comparesAsNoCase(text: string): boolean {
  return ![...text].some(isWide);
}

/**
 * LIKE ignores the case of ASCII letters, and with a NOCASE index SQLite seeks
 * the range of the pattern's text before its first wildcard. So: one pattern
 * per case variant of the first non-ASCII character, later ones as `_` and
 * checked one by one.
 */
function caselessLike(
  eb: CustomerExpressions,
  column: CaselessColumn,
  characters: readonly string[],
  suffix: "" | "%",
): Expression<SqlBool> {
  const firstWide = characters.findIndex(isWide);
  if (firstWide === -1) return like(column, likePattern(characters) + suffix);
  const [head, tail] = [likePattern(characters.slice(0, firstWide)), likePattern(characters.slice(firstWide + 1))];
  const laterChecks = characters.flatMap((character, index) =>
    index > firstWide && isWide(character) ? [caseVariantAt(eb, column, index, character)] : [],
  );
  const variants = caseVariants(characters[firstWide] ?? "");
  return eb.or(variants.map((variant) => eb.and([like(column, head + variant + tail + suffix), ...laterChecks])));
}

function like(column: CaselessColumn, pattern: string): Expression<SqlBool> {
  // A literal escape: SQLite seeks an index for a LIKE only with one.
  return sql<SqlBool>`${sql.ref(column)} LIKE ${pattern} ESCAPE '\\'`;
}

function isWide(character: string): boolean {
  return (character.codePointAt(0) ?? 0) > 0x7f;
}

/** The ASCII characters as themselves (escaped where LIKE gives them a meaning), each other one as `_`. */
function likePattern(characters: readonly string[]): string {
  return characters.map((character) => (isWide(character) ? "_" : character.replace(/[\\%_]/, LIKE_ESCAPE + "$&"))).join("");
}

/** SQLite's substr counts characters, as `[...text]` does, from 1. */
function caseVariantAt(eb: CustomerExpressions, column: CaselessColumn, index: number, character: string): Expression<SqlBool> {
  const stored = eb.fn<string>("substr", [eb.ref(column), eb.val(index + 1), eb.val(1)]);
  return eb(stored, "in", caseVariants(character));
}

let caseClasses: Map<string, readonly string[]> | undefined;

/** The non-ASCII characters that are `character` but for case, itself included, in code point order. */
export function caseVariants(character: string): readonly string[] {
  caseClasses ??= nonAsciiCaseClasses();
  return caseClasses.get(character) ?? [character];
}

/**
 * Every non-ASCII case class (two or more characters), each in code point
 * order: the data caseVariants answers from, for engines that fold in SQL
 * (PostgreSQL's chinook_fold, migrations/postgres).
 */
export function nonAsciiCaseClassList(): readonly (readonly string[])[] {
  caseClasses ??= nonAsciiCaseClasses();
  return [...new Set(caseClasses.values())];
}

/**
 * Every non-ASCII character linked to another by a one-character lower- or
 * upper-case mapping, with the whole class it is linked into: lower and upper
 * case alone would miss that ς and σ are both Σ lowered. Built once, on first
 * use (~25 ms), from the code points that have case (below U+20000).
 * Mappings into ASCII (ı → I, ſ → S, the Kelvin sign → k) are left out, as
 * Unicode case folding leaves ı; new emails cannot hold the other two (NFKC).
 */
function nonAsciiCaseClasses(): Map<string, readonly string[]> {
  const linked = new Map<string, string>();
  const root = (character: string): string => {
    let current = character;
    for (let next = linked.get(current); next !== undefined && next !== current; next = linked.get(current)) current = next;
    return current;
  };
  for (let codePoint = 0x80; codePoint < 0x20000; codePoint++) {
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) continue; // surrogates are not characters
    const character = String.fromCodePoint(codePoint);
    for (const mapped of [character.toLowerCase(), character.toUpperCase()]) {
      if (mapped === character || [...mapped].length !== 1 || !isWide(mapped)) continue;
      const [a, b] = [root(character), root(mapped)];
      linked.set(a, b);
      if (!linked.has(b)) linked.set(b, b);
    }
  }
  const classes = new Map<string, string[]>();
  for (const character of linked.keys()) {
    const members = classes.get(root(character)) ?? [];
    members.push(character);
    classes.set(root(character), members);
  }
  const byCharacter = new Map<string, readonly string[]>();
  for (const members of classes.values()) {
    const sorted = members.sort(byCodePoint);
    for (const member of sorted) byCharacter.set(member, sorted);
  }
  return byCharacter;
}

function byCodePoint(a: string, b: string): number {
  return (a.codePointAt(0) ?? 0) - (b.codePointAt(0) ?? 0);
}
