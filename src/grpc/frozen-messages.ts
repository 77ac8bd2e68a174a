/**
 * Messages frozen all the way down, so that whoever holds one can share it:
 * no holder can change it (in strict mode, which all our modules are, an
 * assignment throws a TypeError), and its encoding, once computed, stays
 * true. The read cache hands out its customers this way instead of copying
 * each one per read.
 */

/** Frozen messages, with their encoding once a serializer has asked for it. */
const encodings = new WeakMap<object, { bytes?: Buffer }>();

/**
 * Freezes `message` and everything it holds, and returns it. Messages holding
 * bytes (a non-empty Uint8Array cannot be frozen) are frozen elsewhere but
 * never get a remembered encoding.
 */
export function freezeMessage<T extends object>(message: T): T {
  if (freezeDeep(message)) encodings.set(message, {});
  return message;
}

/** `encode(message)`, computed once per frozen message. */
export function encodeOnce<T extends object>(message: T, encode: (message: T) => Buffer): Buffer {
  const remembered = encodings.get(message);
  if (remembered === undefined) return encode(message);
  remembered.bytes ??= encode(message);
  return remembered.bytes;
}

/** True when everything reachable ended up frozen. */
function freezeDeep(value: object): boolean {
  if (ArrayBuffer.isView(value)) return value.byteLength === 0;
  let complete = true;
  for (const key of Object.keys(value)) {
    const child: unknown = (value as Record<string, unknown>)[key];
    if (typeof child === "object" && child !== null && !freezeDeep(child)) complete = false;
  }
  Object.freeze(value);
  return complete;
}
