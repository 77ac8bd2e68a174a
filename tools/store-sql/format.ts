/**
 * Lays out one SQL statement for reading: each clause on a line of its own
 * with its items indented beneath, one per line, and subqueries and AND/OR
 * groups indented further. Only whitespace changes: formatSql checks that
 * the result holds exactly the tokens of the text it was given.
 */

interface Token {
  text: string;
  /** Whitespace came before it in the text it was read from. */
  spaced: boolean;
}

const INDENT = "  ";
/** A parenthesised list longer than this on one line gets a line per item. */
const LONGEST_INLINE_LIST = 80;

/** Keywords that start a clause, longest first where one begins another. */
const CLAUSES: readonly (readonly string[])[] = [
  ["union", "all"],
  ["union"],
  ["select"],
  ["from"],
  ["where"],
  ["group", "by"],
  ["having"],
  ["order", "by"],
  ["limit"],
  ["offset"],
  ["insert", "into"],
  ["values"],
  ["update"],
  ["set"],
  ["delete", "from"],
  ["on", "conflict"],
  ["returning"],
];
const JOINS: readonly (readonly string[])[] = [
  ["inner", "join"],
  ["left", "join"],
  ["right", "join"],
  ["full", "join"],
  ["cross", "join"],
  ["join"],
];
const CONNECTIVES: ReadonlySet<string> = new Set(["and", "or"]);

/**
 * Quoted identifiers, string literals, words, numbered parameters, numbers,
 * parentheses and commas; any other run of symbols is one operator.
 */
const TOKEN = /(\s*)("(?:[^"]|"")*"|'(?:[^']|'')*'|[A-Za-z_][\w$]*|\$\d+|\d+(?:\.\d+)?|[(),]|[^\s\w"'(),$]+)/y;

export function formatSql(text: string): string {
  const tokens = tokenize(text);
  const layout = new Layout();
  layBlock(tokens, 0, tokens.length, 0, layout);
  const formatted = layout.text();
  if (!sameTokens(tokenize(formatted), tokens)) throw new Error(`formatting changed more than whitespace in: ${text}`);
  return formatted;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (text.slice(TOKEN.lastIndex).trim() !== "") {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(text);
    if (match === null) throw new Error(`cannot read the SQL at offset ${at}: ${text}`);
    const [, space = "", token = ""] = match;
    tokens.push({ text: token, spaced: space !== "" });
  }
  return tokens;
}

function sameTokens(a: readonly Token[], b: readonly Token[]): boolean {
  return a.length === b.length && a.every((token, index) => token.text === b[index]?.text);
}

/** Lines of text, each indented as it was started. */
class Layout {
  private readonly lines: string[] = [];
  private line = "";
  private indent = 0;

  /** Ends the line (unless it is still empty); what comes next starts a line at `indent`. */
  breakLine(indent: number): void {
    if (this.line !== "") this.lines.push(this.line);
    this.line = "";
    this.indent = indent;
  }

  add(token: Token): void {
    if (this.line === "") this.line = INDENT.repeat(this.indent) + token.text;
    else this.line += (token.spaced ? " " : "") + token.text;
  }

  text(): string {
    this.breakLine(0);
    return this.lines.join("\n");
  }
}

/**
 * Lays out tokens [from, to) as one level of a statement: its clauses at
 * `indent`, their items one deeper.
 */
function layBlock(tokens: readonly Token[], from: number, to: number, indent: number, layout: Layout): void {
  let itemIndent = indent;
  let index = from;
  while (index < to) {
    const token = tokens[index];
    if (token === undefined) return;
    const clause = keywordAt(tokens, index, to, CLAUSES);
    if (clause > 0) {
      layout.breakLine(indent);
      addAll(tokens, index, index + clause, layout);
      itemIndent = indent + 1;
      layout.breakLine(itemIndent);
      index += clause;
      continue;
    }
    const join = keywordAt(tokens, index, to, JOINS);
    if (join > 0) {
      layout.breakLine(itemIndent);
      addAll(tokens, index, index + join, layout);
      index += join;
      continue;
    }
    if (CONNECTIVES.has(token.text.toLowerCase())) layout.breakLine(itemIndent);
    if (token.text === "(") {
      index = layParenthesis(tokens, index, itemIndent, layout);
      continue;
    }
    layout.add(token);
    if (token.text === ",") layout.breakLine(itemIndent);
    index += 1;
  }
}

/**
 * Lays out the parenthesis opening at `open`, on the line at hand: a
 * subquery, an AND/OR group or a long list as a block of its own lines, any
 * other inline. Returns the index after its closing parenthesis.
 */
function layParenthesis(tokens: readonly Token[], open: number, indent: number, layout: Layout): number {
  const close = closingParenthesis(tokens, open);
  const [opening, closing] = [tokens[open], tokens[close]];
  if (opening === undefined || closing === undefined) throw new Error("unbalanced parentheses");
  layout.add(opening);
  if (isBlock(tokens, open + 1, close)) {
    layout.breakLine(indent + 1);
    layBlock(tokens, open + 1, close, indent + 1, layout);
    layout.breakLine(indent);
  } else {
    for (let index = open + 1; index < close; ) {
      const token = tokens[index];
      if (token === undefined) break;
      if (token.text === "(") {
        index = layParenthesis(tokens, index, indent, layout);
        continue;
      }
      layout.add(token);
      index += 1;
    }
  }
  layout.add(closing);
  return close + 1;
}

function isBlock(tokens: readonly Token[], from: number, to: number): boolean {
  if (keywordAt(tokens, from, to, CLAUSES) > 0) return true;
  const outer = outerTokens(tokens, from, to);
  if (outer.some((token) => CONNECTIVES.has(token.text.toLowerCase()))) return true;
  return outer.some((token) => token.text === ",") && inlineLength(tokens, from, to) > LONGEST_INLINE_LIST;
}

/** The tokens of [from, to) outside any parenthesis within it. */
function outerTokens(tokens: readonly Token[], from: number, to: number): Token[] {
  const outer: Token[] = [];
  let depth = 0;
  for (const token of tokens.slice(from, to)) {
    if (token.text === ")") depth -= 1;
    if (depth === 0) outer.push(token);
    if (token.text === "(") depth += 1;
  }
  return outer;
}

function inlineLength(tokens: readonly Token[], from: number, to: number): number {
  return tokens.slice(from, to).reduce((length, token) => length + token.text.length + (token.spaced ? 1 : 0), 0);
}

function closingParenthesis(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let index = open; index < tokens.length; index++) {
    const text = tokens[index]?.text;
    if (text === "(") depth += 1;
    if (text === ")") depth -= 1;
    if (depth === 0) return index;
  }
  throw new Error("unbalanced parentheses");
}

/** How many tokens, from `index`, spell one of `keywords` (0 when none does). */
function keywordAt(tokens: readonly Token[], index: number, to: number, keywords: readonly (readonly string[])[]): number {
  const spelled = keywords.find((words) =>
    words.every((word, offset) => index + offset < to && tokens[index + offset]?.text.toLowerCase() === word),
  );
  return spelled?.length ?? 0;
}

function addAll(tokens: readonly Token[], from: number, to: number, layout: Layout): void {
  for (const token of tokens.slice(from, to)) layout.add(token);
}
