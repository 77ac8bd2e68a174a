/** Which page to load, from the one shown. */
export type Move = "here" | "next" | "previous";

/**
 * Where a listing is: the page tokens that led to the current page (the
 * first page's is ""), how many rows each page up to it held, and the token
 * of the next page ("" on the last). The API pages forward only, so going
 * back reuses a token already seen. A move takes effect once its page has
 * arrived: a page that fails to load leaves the position where it was.
 */
export class PagePosition {
  private readonly tokens: string[] = [""];
  private readonly counts: number[] = [];
  private next = "";

  /** 0 for the first page. */
  get index(): number {
    return this.tokens.length - 1;
  }

  /** How many rows the pages before this one held. */
  get rowsBefore(): number {
    return this.counts.slice(0, this.index).reduce((sum, count) => sum + count, 0);
  }

  get hasPrevious(): boolean {
    return this.index > 0;
  }

  get hasNext(): boolean {
    return this.next !== "";
  }

  tokenFor(move: Move): string {
    if (move === "next") return this.next;
    const index = move === "previous" ? this.index - 1 : this.index;
    return this.tokens[Math.max(index, 0)] ?? "";
  }

  arrived(move: Move, rowCount: number, nextPageToken: string): void {
    if (move === "next") this.tokens.push(this.next);
    if (move === "previous" && this.hasPrevious) this.tokens.pop();
    this.counts[this.index] = rowCount;
    this.next = nextPageToken;
  }
}
