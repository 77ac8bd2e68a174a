import { ScalarType, toBinary, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { rememberedEncoding, rememberEncoding } from "./frozen-messages";

/**
 * Protobuf binary encoding, compiled once per message type from its
 * descriptor. protobuf-es's `toBinary` walks every message through its
 * reflection API and encodes each string into a fresh array; on a ~400-byte
 * customer that is ~15 µs, the largest single cost of answering from memory.
 * This writes straight into one reused buffer.
 *
 * The output is byte for byte what `toBinary` writes (test/wire-encoder.test.ts
 * proves it field kind by field kind). Whatever this does not handle falls
 * back to `toBinary` itself: message types with proto2 groups, required
 * fields or non-string map keys (decided once, per type), and any message
 * holding unknown fields or a value outside the plain cases below, such as a
 * negative int32 or a 64-bit integer beyond 2^53 (decided per message, so
 * `toBinary` produces the bytes, or the error, it always would).
 *
 * A frozen message (frozen-messages.ts) nested in another, such as a cached
 * customer in a page, is written from its remembered encoding, or remembers
 * the bytes written for it here.
 */
export type WireEncoder = (message: Message) => Buffer;

type Fields = Readonly<Record<string, unknown>>;
type FieldWriter = (writer: WireWriter, message: Fields) => void;
type ValueWriter = (writer: WireWriter, value: unknown) => void;
type Tag = readonly number[];

/** The field writers of one message type, filled in after it is registered (types may nest themselves). */
interface CompiledMessage {
  fields: FieldWriter[];
}

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
// google.protobuf.FeatureSet.FieldPresence
const LEGACY_REQUIRED = 3;
const IMPLICIT = 2;
const INITIAL_BUFFER_BYTES = 16 * 1024;
/** Up to this many UTF-16 units a string's UTF-8 length (≤ 3 bytes per unit) fits a one-byte varint. */
const SHORT_STRING_UNITS = 42;

/** Unwinds a fast encode that met a case only `toBinary` handles; thrown often, so built once. */
const USE_TO_BINARY = new Error("use toBinary");

const encoders = new WeakMap<DescMessage, WireEncoder>();

/** The encoder for `schema`, compiled on first use. */
export function wireEncoder(schema: DescMessage): WireEncoder {
  let encoder = encoders.get(schema);
  if (encoder === undefined) {
    encoder = compileEncoder(schema);
    encoders.set(schema, encoder);
  }
  return encoder;
}

function compileEncoder(schema: DescMessage): WireEncoder {
  const compiled = compileMessage(schema, new Map());
  if (compiled === undefined) return (message) => asBuffer(toBinary(schema, message));
  const writer = new WireWriter();
  return (message) => {
    writer.reset();
    try {
      writeMessage(writer, compiled, message);
    } catch (error) {
      if (error === USE_TO_BINARY) return asBuffer(toBinary(schema, message));
      throw error;
    }
    return writer.copy();
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function writeMessage(writer: WireWriter, compiled: CompiledMessage, message: object): void {
  const fields = message as Fields;
  const unknown = fields.$unknown;
  if (Array.isArray(unknown) && unknown.length > 0) throw USE_TO_BINARY;
  for (const writeField of compiled.fields) writeField(writer, fields);
}

function compileMessage(schema: DescMessage, compiling: Map<DescMessage, CompiledMessage>): CompiledMessage | undefined {
  const known = compiling.get(schema);
  if (known !== undefined) return known;
  const compiled: CompiledMessage = { fields: [] };
  compiling.set(schema, compiled);
  const sorted = [...schema.fields].sort((a, b) => a.number - b.number);
  for (const field of sorted) {
    const writeField = compileField(field, compiling);
    if (writeField === undefined) return undefined;
    compiled.fields.push(writeField);
  }
  return compiled;
}

function compileField(field: DescField, compiling: Map<DescMessage, CompiledMessage>): FieldWriter | undefined {
  if (field.presence === LEGACY_REQUIRED) return undefined;
  switch (field.fieldKind) {
    case "scalar": {
      const write = scalarWriter(field.scalar);
      return write && singular(field, scalarTag(field.number, field.scalar), write, isScalarZero(field.scalar));
    }
    case "enum": {
      const zero = field.enum.values[0]?.number ?? 0;
      return singular(field, tagBytes(field.number, WIRE_VARINT), writeInt32, (value) => value === zero);
    }
    case "message": {
      if (field.delimitedEncoding) return undefined;
      const write = messageWriter(field.message, compiling);
      return write && singular(field, tagBytes(field.number, WIRE_LENGTH_DELIMITED), write, () => false);
    }
    case "list":
      return listWriter(field, compiling);
    case "map":
      return mapWriter(field, compiling);
  }
}

function messageWriter(schema: DescMessage, compiling: Map<DescMessage, CompiledMessage>): ValueWriter | undefined {
  const compiled = compileMessage(schema, compiling);
  if (compiled === undefined) return undefined;
  return (writer, value) => {
    if (typeof value !== "object" || value === null) throw USE_TO_BINARY;
    const remembered = rememberedEncoding(value);
    if (remembered !== undefined) {
      writer.varint(remembered.byteLength);
      writer.raw(remembered);
      return;
    }
    const start = writer.beginDelimited();
    writeMessage(writer, compiled, value);
    const bodyStart = writer.endDelimited(start);
    rememberEncoding(value, () => writer.copyFrom(bodyStart));
  };
}

/**
 * A singular field, present as protobuf-es decides: the selected case of its
 * oneof, an own defined property with explicit presence, else not zero.
 */
function singular(field: DescField, tag: Tag, write: ValueWriter, isZero: (value: unknown) => boolean): FieldWriter {
  const name = field.localName;
  if (field.oneof !== undefined) {
    const group = field.oneof.localName;
    return (writer, message) => {
      const selected = message[group] as { case?: unknown; value?: unknown } | undefined;
      if (selected?.case !== name) return;
      writer.tag(tag);
      write(writer, selected.value);
    };
  }
  if (field.presence !== IMPLICIT) {
    return (writer, message) => {
      const value = message[name];
      if (value === undefined || !Object.hasOwn(message, name)) return;
      writer.tag(tag);
      write(writer, value);
    };
  }
  return (writer, message) => {
    const value = message[name];
    if (isZero(value)) return;
    writer.tag(tag);
    write(writer, value);
  };
}

function listWriter(field: DescField & { fieldKind: "list" }, compiling: Map<DescMessage, CompiledMessage>): FieldWriter | undefined {
  const name = field.localName;
  let write: ValueWriter | undefined;
  let wireType = WIRE_LENGTH_DELIMITED;
  if (field.listKind === "message") {
    if (field.delimitedEncoding) return undefined;
    write = messageWriter(field.message, compiling);
  } else if (field.listKind === "enum") {
    write = writeInt32;
    wireType = WIRE_VARINT;
  } else {
    write = scalarWriter(field.scalar);
    wireType = wireTypeOf(field.scalar);
  }
  if (write === undefined) return undefined;
  const writeItem = write;
  if (field.packed) {
    const tag = tagBytes(field.number, WIRE_LENGTH_DELIMITED);
    return (writer, message) => {
      const items = listAt(message, name);
      if (items.length === 0) return;
      writer.tag(tag);
      const start = writer.beginDelimited();
      for (const item of items) writeItem(writer, item);
      writer.endDelimited(start);
    };
  }
  const tag = tagBytes(field.number, wireType);
  return (writer, message) => {
    for (const item of listAt(message, name)) {
      writer.tag(tag);
      writeItem(writer, item);
    }
  };
}

function listAt(message: Fields, name: string): readonly unknown[] {
  const items = message[name];
  if (!Array.isArray(items)) throw USE_TO_BINARY;
  return items;
}

/** Each entry a small message: key as field 1, value as field 2, both always written. */
function mapWriter(field: DescField & { fieldKind: "map" }, compiling: Map<DescMessage, CompiledMessage>): FieldWriter | undefined {
  if (field.mapKey !== ScalarType.STRING) return undefined;
  let write: ValueWriter | undefined;
  let valueTag: Tag;
  if (field.mapKind === "message") {
    write = messageWriter(field.message, compiling);
    valueTag = tagBytes(2, WIRE_LENGTH_DELIMITED);
  } else if (field.mapKind === "enum") {
    write = writeInt32;
    valueTag = tagBytes(2, WIRE_VARINT);
  } else {
    write = scalarWriter(field.scalar);
    valueTag = scalarTag(2, field.scalar);
  }
  if (write === undefined) return undefined;
  const writeValue = write;
  const name = field.localName;
  const entryTag = tagBytes(field.number, WIRE_LENGTH_DELIMITED);
  const keyTag = tagBytes(1, WIRE_LENGTH_DELIMITED);
  return (writer, message) => {
    const entries = message[name];
    if (typeof entries !== "object" || entries === null) throw USE_TO_BINARY;
    for (const key of Object.keys(entries)) {
      writer.tag(entryTag);
      const start = writer.beginDelimited();
      writer.tag(keyTag);
      writeString(writer, key);
      writer.tag(valueTag);
      writeValue(writer, (entries as Fields)[key]);
      writer.endDelimited(start);
    }
  };
}

/** The scalar types the service's messages use; any other makes its message type use toBinary. */
function scalarWriter(type: ScalarType): ValueWriter | undefined {
  switch (type) {
    case ScalarType.STRING:
      return writeString;
    case ScalarType.BYTES:
      return writeBytes;
    case ScalarType.BOOL:
      return (writer, value) => writer.byte(value ? 1 : 0);
    case ScalarType.INT32:
      return writeInt32;
    case ScalarType.UINT32:
      return writeUint32;
    case ScalarType.INT64:
    case ScalarType.UINT64:
      return writeUnsigned64;
    default:
      return undefined;
  }
}

/** protobuf-es's isScalarZeroValue: loose equality matches 0, 0n and "0" alike. */
function isScalarZero(type: ScalarType): (value: unknown) => boolean {
  switch (type) {
    case ScalarType.BOOL:
      return (value) => value === false;
    case ScalarType.STRING:
      return (value) => value === "";
    case ScalarType.BYTES:
      return (value) => value instanceof Uint8Array && value.byteLength === 0;
    default:
      return (value) => value == 0;
  }
}

function writeString(writer: WireWriter, value: unknown): void {
  if (typeof value !== "string") throw USE_TO_BINARY;
  writer.string(value);
}

function writeBytes(writer: WireWriter, value: unknown): void {
  if (!(value instanceof Uint8Array)) throw USE_TO_BINARY;
  writer.varint(value.byteLength);
  writer.raw(value);
}

/** Negative int32s take ten bytes; rare enough to leave to toBinary. */
function writeInt32(writer: WireWriter, value: unknown): void {
  if (typeof value !== "number" || (value | 0) !== value || value < 0) throw USE_TO_BINARY;
  writer.varint(value);
}

function writeUint32(writer: WireWriter, value: unknown): void {
  if (typeof value !== "number" || value >>> 0 !== value) throw USE_TO_BINARY;
  writer.varint(value);
}

/** int64 and uint64 from 0 to 2^53, as bigint or (jstype = JS_STRING) decimal string. */
function writeUnsigned64(writer: WireWriter, value: unknown): void {
  const number = typeof value === "bigint" ? Number(value) : typeof value === "string" ? decimal(value) : NaN;
  if (!Number.isSafeInteger(number) || number < 0) throw USE_TO_BINARY;
  writer.varint(number);
}

/** Only canonical decimals: anything else ("0x10", " 1", "1e3") is for protobuf-es to accept or refuse. */
function decimal(text: string): number {
  return /^(0|[1-9]\d{0,15})$/.test(text) ? Number(text) : NaN;
}

function wireTypeOf(type: ScalarType): number {
  return type === ScalarType.STRING || type === ScalarType.BYTES ? WIRE_LENGTH_DELIMITED : WIRE_VARINT;
}

function scalarTag(fieldNumber: number, type: ScalarType): Tag {
  return tagBytes(fieldNumber, wireTypeOf(type));
}

/** A field's key, encoded once: `(number << 3) | wire type` as a varint. */
function tagBytes(fieldNumber: number, wireType: number): Tag {
  const bytes: number[] = [];
  let rest = fieldNumber * 8 + wireType;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return bytes;
}

/** A growable buffer written front to back; length prefixes are patched in once a body is written. */
class WireWriter {
  private buffer: Buffer;
  private position = 0;

  constructor(initialBytes = INITIAL_BUFFER_BYTES) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  reset(): void {
    this.position = 0;
  }

  /** The bytes written, in a buffer of their own. */
  copy(): Buffer {
    const bytes = Buffer.allocUnsafe(this.position);
    this.buffer.copy(bytes, 0, 0, this.position);
    return bytes;
  }

  byte(value: number): void {
    this.reserve(1);
    this.buffer[this.position++] = value;
  }

  /** A few bytes: a loop beats TypedArray#set's setup. */
  tag(bytes: Tag): void {
    this.reserve(bytes.length);
    for (const byte of bytes) this.buffer[this.position++] = byte;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.buffer.set(bytes, this.position);
    this.position += bytes.byteLength;
  }

  /** 0 ≤ value ≤ 2^53; beyond 32 bits the arithmetic stays in doubles, exact up to there. */
  varint(value: number): void {
    this.reserve(8);
    let rest = value;
    while (rest > 0xffffffff) {
      this.buffer[this.position++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    while (rest > 0x7f) {
      this.buffer[this.position++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buffer[this.position++] = rest;
  }

  /** As TextEncoder would: lone surrogates become U+FFFD. */
  string(value: string): void {
    if (value.length <= SHORT_STRING_UNITS) {
      this.reserve(1 + 3 * value.length);
      const written = this.asciiWrite(value, this.position + 1) ?? this.buffer.write(value, this.position + 1, "utf8");
      this.buffer[this.position] = written;
      this.position += 1 + written;
      return;
    }
    const length = Buffer.byteLength(value, "utf8");
    this.varint(length);
    this.reserve(length);
    this.position += this.buffer.write(value, this.position, length, "utf8");
  }

  /** Short ASCII strings are most strings; copying their units beats a call into C++. */
  private asciiWrite(value: string, offset: number): number | undefined {
    const length = value.length;
    for (let i = 0; i < length; i++) {
      const unit = value.charCodeAt(i);
      if (unit >= 0x80) return undefined;
      this.buffer[offset + i] = unit;
    }
    return length;
  }

  /** Reserves one byte for the length; most bodies need no more. */
  beginDelimited(): number {
    this.reserve(1);
    this.position += 1;
    return this.position;
  }

  /** Writes the body's length before it; returns where the body now starts. */
  endDelimited(bodyStart: number): number {
    const length = this.position - bodyStart;
    if (length < 0x80) {
      this.buffer[bodyStart - 1] = length;
      return bodyStart;
    }
    const extra = varintSize(length) - 1;
    this.reserve(extra);
    this.buffer.copyWithin(bodyStart + extra, bodyStart, this.position);
    const end = this.position + extra;
    this.position = bodyStart - 1;
    this.varint(length);
    this.position = end;
    return bodyStart + extra;
  }

  /** The bytes written since `start`, in a buffer of their own. */
  copyFrom(start: number): Buffer {
    const bytes = Buffer.allocUnsafeSlow(this.position - start);
    this.buffer.copy(bytes, 0, start, this.position);
    return bytes;
  }

  private reserve(bytes: number): void {
    const needed = this.position + bytes;
    if (needed <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, 2 * this.buffer.length));
    this.buffer.copy(grown, 0, 0, this.position);
    this.buffer = grown;
  }
}

function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest >= 0x80; rest = Math.floor(rest / 0x80)) size++;
  return size;
}
