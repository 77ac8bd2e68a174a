/**
 * Just enough checking to read back the JSON our own processes print: a typo
 * or a version skew between them fails loudly instead of producing NaN tables.
 */
export type JsonRecord = Readonly<Record<string, unknown>>;

export function parseJsonRecord(text: string, what: string): JsonRecord {
  return asRecord(JSON.parse(text), what);
}

export function asRecord(value: unknown, what: string): JsonRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what}: not an object`);
  // A non-array object is a string-keyed record.
  return value as JsonRecord;
}

export function numberAt(record: JsonRecord, key: string, what: string): number {
  const value = record[key];
  if (typeof value !== "number") throw new Error(`${what}.${key}: not a number`);
  return value;
}

export function nullableNumberAt(record: JsonRecord, key: string, what: string): number | null {
  return record[key] === null ? null : numberAt(record, key, what);
}

export function optionalNumberAt(record: JsonRecord, key: string, what: string): number | undefined {
  return record[key] === undefined ? undefined : numberAt(record, key, what);
}

export function stringAt(record: JsonRecord, key: string, what: string): string {
  const value = record[key];
  if (typeof value !== "string") throw new Error(`${what}.${key}: not a string`);
  return value;
}

export function recordAt(record: JsonRecord, key: string, what: string): JsonRecord {
  return asRecord(record[key], `${what}.${key}`);
}

export function arrayAt(record: JsonRecord, key: string, what: string): readonly unknown[] {
  const value = record[key];
  if (!Array.isArray(value)) throw new Error(`${what}.${key}: not an array`);
  return value;
}

export function numbersAt(record: JsonRecord, key: string, what: string): number[] {
  return arrayAt(record, key, what).map((item, index) => {
    if (typeof item !== "number") throw new Error(`${what}.${key}[${index}]: not a number`);
    return item;
  });
}

export function countsAt(record: JsonRecord, key: string, what: string): Record<string, number> {
  const counts = recordAt(record, key, what);
  return Object.fromEntries(Object.keys(counts).map((name) => [name, numberAt(counts, name, `${what}.${key}`)]));
}
