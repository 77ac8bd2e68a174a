/** The element with this id, of the expected type; a page that lacks it is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`index.html has no <${type.name}> #${id}`);
  return found;
}

/** The table's body, where rows go. */
export function bodyOf(table: HTMLTableElement): HTMLTableSectionElement {
  const body = table.tBodies[0];
  if (body === undefined) throw new Error(`table #${table.id} has no <tbody>`);
  return body;
}

export function textCell(row: HTMLTableRowElement, text: string, className?: string): HTMLTableCellElement {
  const cell = row.insertCell();
  cell.textContent = text;
  if (className !== undefined) cell.className = className;
  return cell;
}

/** A status line: plain, or an error, which is styled and announced as one. */
export function showStatus(target: HTMLElement, text: string, kind: "info" | "error" = "info"): void {
  target.textContent = text;
  target.classList.toggle("error", kind === "error");
}

/** Rebuilds a description list from label/value pairs; empty values read "—". */
export function fillDescriptions(list: HTMLDListElement, entries: ReadonlyArray<readonly [string, string]>): void {
  list.replaceChildren(
    ...entries.flatMap(([label, value]) => {
      const term = document.createElement("dt");
      term.textContent = label;
      const description = document.createElement("dd");
      description.textContent = value === "" ? "—" : value;
      return [term, description];
    }),
  );
}
