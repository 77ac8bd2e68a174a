/**
 * An upper bound on a customer's protobuf encoding, which is also roughly
 * what a cached one holds in memory: each string, map keys included, at 3
 * bytes per UTF-16 unit (the most UTF-8 takes for one; in memory, the UTF-16
 * copy in the message and the wire bytes the adapter keeps once it has
 * encoded it), and a little for every other value and field.
 */
export function customerSizeBound(value: unknown): number {
  if (typeof value === "string") return 3 * value.length + FIELD_BYTES;
  if (typeof value !== "object" || value === null) return FIELD_BYTES;
  // A map's keys (profile.attributes) go on the wire too; a message's field names and an array's indexes do not.
  const isMap = !Array.isArray(value) && !("$typeName" in value);
  let bytes = FIELD_BYTES;
  for (const [key, item] of Object.entries(value)) {
    bytes += customerSizeBound(item) + (isMap ? customerSizeBound(key) : 0);
  }
  return bytes;
}

/** A field's tag and length (or a varint) on the wire; a property and a pointer in memory. */
const FIELD_BYTES = 16;
