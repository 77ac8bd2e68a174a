import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** "LOYALTY_TIER_GOLD"-style enum member names, as protobuf-es strips them ("GOLD"), read as words ("Gold"). */
export function enumLabel<E extends Record<number, string>>(enumObject: E, value: number): string {
  const name = enumObject[value];
  if (name === undefined) return `Unknown (${value})`;
  if (name === "UNSPECIFIED") return "";
  const words = name.toLowerCase().replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function dateTime(timestamp: Timestamp | undefined): string {
  return timestamp === undefined ? "" : DATE_TIME.format(timestampDate(timestamp));
}

/** The parts that are set, joined: "Boston, MA, USA". */
export function joined(parts: ReadonlyArray<string | undefined>, separator = ", "): string {
  return parts.filter((part) => part !== undefined && part !== "").join(separator);
}

export function yesNo(value: boolean): string {
  return value ? "Yes" : "No";
}
