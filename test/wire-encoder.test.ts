import {
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescField,
  type DescMessage,
  type Message,
  ScalarType,
} from "@bufbuild/protobuf";
import {
  DurationSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldMaskSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  StructSchema,
  TimestampSchema,
  UInt32ValueSchema,
  UInt64ValueSchema,
  ValueSchema,
} from "@bufbuild/protobuf/wkt";
import { CustomerProfileSchema, CustomerSchema } from "../gen/chinook/v1/customer_pb";
import { CustomerService, ListCustomersResponseSchema } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import { Health } from "../gen/grpc/health/v1/health_pb";
import { ServerReflection } from "../gen/grpc/reflection/v1/reflection_pb";
import { encodeOnce, freezeMessage, rememberedEncoding } from "../src/grpc/frozen-messages";
import { wireEncoder } from "../src/grpc/wire-encoder";

/** mulberry32: the same messages on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = [
  "",
  "a",
  "luis.goncalves@embraer.com.br",
  "São José dos Campos",
  "Łódź — 東京 — 🎵🎶",
  "lone \ud800 surrogate",
  "x".repeat(42),
  "é".repeat(42),
  "x".repeat(43),
  "ü".repeat(200),
  "long ".repeat(4000),
];
const INT32S = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, -1, -(2 ** 31)];
const UINT32S = [0, 1, 127, 128, 2 ** 32 - 1];
const INT64S = [0n, 1n, 127n, 128n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n)];
const UINT64S = [0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n];
const DOUBLES = [0, -0, 1.5, -2.25, Number.MAX_VALUE, Number.NaN, Number.POSITIVE_INFINITY];
const MAP_KEYS = ["a", "1", "10", "b", "ü", "", "2"];

/** Any message of `schema`: fields unset, zero or not, nested up to `depth`. */
class MessageMaker {
  constructor(private readonly random: () => number) {}

  message(schema: DescMessage, depth = 3): Message {
    const init: Record<string, unknown> = {};
    for (const member of schema.members) {
      if (this.random() < 0.25) continue;
      if (member.kind === "oneof") {
        const field = this.pick(member.fields);
        const value = this.singular(field, depth);
        if (value !== undefined) init[member.localName] = { case: field.localName, value };
        continue;
      }
      const value = this.fieldValue(member, depth);
      if (value !== undefined) init[member.localName] = value;
    }
    return create(schema, init);
  }

  private fieldValue(field: DescField, depth: number): unknown {
    switch (field.fieldKind) {
      case "list":
        return Array.from({ length: this.count() }, () => this.item(field, depth)).filter((item) => item !== undefined);
      case "map": {
        const entries: Record<string, unknown> = {};
        for (let i = this.count(); i > 0; i--) {
          const value = this.mapValue(field, depth);
          if (value !== undefined) entries[this.mapKey(field.mapKey)] = value;
        }
        return entries;
      }
      default:
        return this.singular(field, depth);
    }
  }

  private singular(field: DescField, depth: number): unknown {
    switch (field.fieldKind) {
      case "scalar":
        return this.scalar(field.scalar, field.longAsString);
      case "enum":
        return this.enumValue(field.enum.values.map((value) => value.number));
      case "message":
        return depth === 0 ? undefined : this.message(field.message, depth - 1);
      default:
        throw new Error(`not singular: ${field.toString()}`);
    }
  }

  private item(field: DescField & { fieldKind: "list" }, depth: number): unknown {
    if (field.listKind === "message") return depth === 0 ? undefined : this.message(field.message, depth - 1);
    if (field.listKind === "enum") return this.enumValue(field.enum.values.map((value) => value.number));
    return this.scalar(field.scalar, field.longAsString);
  }

  private mapValue(field: DescField & { fieldKind: "map" }, depth: number): unknown {
    if (field.mapKind === "message") return depth === 0 ? undefined : this.message(field.message, depth - 1);
    if (field.mapKind === "enum") return this.enumValue(field.enum.values.map((value) => value.number));
    return this.scalar(field.scalar, false);
  }

  private mapKey(type: ScalarType): string {
    if (type === ScalarType.STRING) return this.pick(MAP_KEYS);
    if (type === ScalarType.BOOL) return this.pick(["true", "false"]);
    return String(this.pick([0, 1, 7, 300]));
  }

  private scalar(type: ScalarType, longAsString: boolean): unknown {
    switch (type) {
      case ScalarType.STRING:
        return this.pick(STRINGS);
      case ScalarType.BYTES:
        return Uint8Array.from({ length: this.pick([0, 1, 5, 200]) }, () => Math.floor(this.random() * 256));
      case ScalarType.BOOL:
        return this.random() < 0.5;
      case ScalarType.DOUBLE:
      case ScalarType.FLOAT:
        return this.pick(DOUBLES.slice(0, 4));
      case ScalarType.INT32:
      case ScalarType.SINT32:
      case ScalarType.SFIXED32:
        return this.pick(INT32S);
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
        return this.pick(UINT32S);
      case ScalarType.UINT64:
      case ScalarType.FIXED64:
        return this.long(this.pick(UINT64S), longAsString);
      default:
        return this.long(this.pick(INT64S), longAsString);
    }
  }

  private long(value: bigint, longAsString: boolean): bigint | string {
    return longAsString ? value.toString() : value;
  }

  private enumValue(numbers: readonly number[]): number {
    return this.random() < 0.1 ? 99 : this.pick(numbers);
  }

  private count(): number {
    return this.pick([0, 1, 2, 5]);
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.random() * items.length)];
    if (item === undefined) throw new Error("nothing to pick");
    return item;
  }
}

/** Either the bytes, or the error message: the encoder must agree with toBinary on both. */
function outcome(encode: () => Uint8Array): { bytes: string } | { error: string } {
  try {
    return { bytes: Buffer.from(encode()).toString("hex") };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

function expectSameAsToBinary(schema: DescMessage, message: Message): void {
  expect(outcome(() => wireEncoder(schema)(message))).toEqual(outcome(() => toBinary(schema, message)));
}

function messagesOf(services: ReadonlyArray<{ methods: ReadonlyArray<{ input: DescMessage; output: DescMessage }> }>) {
  return [...new Set(services.flatMap((service) => service.methods.flatMap((method) => [method.input, method.output])))];
}

/**
 * Every field kind the encoder handles, and some it leaves to toBinary,
 * in a proto3 file built here: protoc never sees it.
 */
const KINDS = (() => {
  const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
  const T = FieldDescriptorProto_Type;
  const field = (name: string, number: number, type: FieldDescriptorProto_Type, more: object = {}) => ({
    name,
    number,
    type,
    label: OPTIONAL,
    jsonName: name,
    ...more,
  });
  const file = create(FileDescriptorProtoSchema, {
    name: "wire_test.proto",
    package: "wire.test",
    syntax: "proto3",
    enumType: [{ name: "Color", value: [{ name: "COLOR_UNSPECIFIED", number: 0 }, { name: "RED", number: 1 }] }],
    messageType: [
      {
        name: "Kinds",
        field: [
          field("u32", 1, T.UINT32),
          field("u64", 2, T.UINT64),
          field("i64_text", 3, T.INT64, { options: { jstype: 1 } }),
          field("u64_text", 4, T.UINT64, { options: { jstype: 1 } }),
          field("maybe_color", 5, T.ENUM, { typeName: ".wire.test.Color", proto3Optional: true, oneofIndex: 1 }),
          field("colors", 6, T.ENUM, { typeName: ".wire.test.Color", label: REPEATED }),
          field("flags", 7, T.BOOL, { label: REPEATED }),
          field("sizes", 8, T.UINT32, { label: REPEATED }),
          field("by_name", 9, T.MESSAGE, { typeName: ".wire.test.Kinds.ByNameEntry", label: REPEATED }),
          field("color_by_name", 10, T.MESSAGE, { typeName: ".wire.test.Kinds.ColorByNameEntry", label: REPEATED }),
          field("text", 11, T.STRING, { oneofIndex: 0 }),
          field("child", 12, T.MESSAGE, { typeName: ".wire.test.Kinds", oneofIndex: 0 }),
          field("number", 13, T.INT64, { oneofIndex: 0 }),
          field("blob", 14, T.BYTES),
          field("unpacked", 15, T.UINT32, { label: REPEATED, options: { packed: false } }),
          field("children", 2047, T.MESSAGE, { typeName: ".wire.test.Kinds", label: REPEATED }),
        ],
        oneofDecl: [{ name: "choice" }, { name: "_maybe_color" }],
        nestedType: [
          {
            name: "ByNameEntry",
            field: [field("key", 1, T.STRING), field("value", 2, T.MESSAGE, { typeName: ".wire.test.Kinds" })],
            options: { mapEntry: true },
          },
          {
            name: "ColorByNameEntry",
            field: [field("key", 1, T.STRING), field("value", 2, T.ENUM, { typeName: ".wire.test.Color" })],
            options: { mapEntry: true },
          },
        ],
      },
      {
        name: "IntKeys",
        field: [field("names", 1, T.MESSAGE, { typeName: ".wire.test.IntKeys.NamesEntry", label: REPEATED })],
        nestedType: [
          {
            name: "NamesEntry",
            field: [field("key", 1, T.INT32), field("value", 2, T.STRING)],
            options: { mapEntry: true },
          },
        ],
      },
    ],
  });
  const legacy = create(FileDescriptorProtoSchema, {
    name: "wire_test_proto2.proto",
    package: "wire.test",
    syntax: "proto2",
    messageType: [
      {
        name: "Legacy",
        field: [
          field("name", 1, T.STRING, { defaultValue: "anonymous" }),
          field("count", 2, T.INT32, { defaultValue: "7" }),
          field("active", 3, T.BOOL),
          field("ids", 4, T.INT64, { label: REPEATED }),
          field("packed_ids", 5, T.INT64, { label: REPEATED, options: { packed: true } }),
          field("child", 6, T.MESSAGE, { typeName: ".wire.test.Legacy" }),
        ],
      },
      {
        name: "WithRequired",
        field: [field("id", 1, T.INT64, { label: FieldDescriptorProto_Label.REQUIRED })],
      },
    ],
  });
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [file, legacy] }));
  const message = (name: string): DescMessage => {
    const schema = registry.getMessage(name);
    if (schema === undefined) throw new Error(`no ${name}`);
    return schema;
  };
  return {
    kinds: message("wire.test.Kinds"),
    intKeys: message("wire.test.IntKeys"),
    legacy: message("wire.test.Legacy"),
    withRequired: message("wire.test.WithRequired"),
  };
})();

describe("wireEncoder writes exactly what toBinary writes", () => {
  const schemas = [
    ...messagesOf([CustomerService, InvoiceService, Health, ServerReflection]),
    CustomerSchema,
    CustomerProfileSchema,
    TimestampSchema,
    DurationSchema,
    FieldMaskSchema,
    UInt32ValueSchema,
    UInt64ValueSchema,
    // double values: left to toBinary.
    FileDescriptorProtoSchema,
    StructSchema,
    ValueSchema,
    KINDS.kinds,
    KINDS.intKeys,
    // proto2 built here: defaults on the prototype, unpacked and packed lists; required fields left to toBinary.
    KINDS.legacy,
    KINDS.withRequired,
  ];

  it.each(schemas.map((schema) => [schema.typeName, schema] as const))("for 300 generated %s messages", (_name, schema) => {
    const maker = new MessageMaker(seededRandom(schema.typeName.length * 7919));
    for (let i = 0; i < 300; i++) expectSameAsToBinary(schema, maker.message(schema));
  });

  it("for an empty message", () => {
    expect(wireEncoder(CustomerSchema)(create(CustomerSchema))).toEqual(Buffer.alloc(0));
  });

  it("for explicit-presence fields set to their zero value, and implicit ones left out", () => {
    const customer = create(CustomerSchema, { company: "", supportRepId: 0n, firstName: "", customerId: 0n });
    expectSameAsToBinary(CustomerSchema, customer);
    expect(wireEncoder(CustomerSchema)(customer).byteLength).toBeGreaterThan(0);
  });

  it("for bodies needing a two- and a three-byte length", () => {
    for (const notes of ["n".repeat(200), "n".repeat(20_000)]) {
      expectSameAsToBinary(CustomerSchema, create(CustomerSchema, { profile: { notes, tags: [notes] } }));
    }
  });

  it("for map keys JavaScript orders numerically first", () => {
    const profile = create(CustomerProfileSchema, { attributes: { b: "1", "10": "2", a: "3", "2": "4" } });
    expectSameAsToBinary(CustomerProfileSchema, profile);
  });

  it("for messages with unknown fields, which it leaves to toBinary", () => {
    const withUnknown = Buffer.concat([
      Buffer.from(toBinary(CustomerSchema, create(CustomerSchema, { email: "a@b.c" }))),
      Buffer.from([0xa8, 0x1f, 0x05]), // field 501, varint 5
    ]);
    const customer = fromBinary(CustomerSchema, withUnknown);
    expect(customer.$unknown).toHaveLength(1);
    expectSameAsToBinary(CustomerSchema, customer);
    expect(wireEncoder(CustomerSchema)(customer)).toEqual(withUnknown);
  });

  it("for values of the wrong type, failing with toBinary's own error", () => {
    const wrong = [
      { customerId: 1.5 },
      { customerId: "12" },
      { supportRepId: -(2n ** 64n) },
      { status: 1.5 },
      { firstName: 12 },
      { profile: { tags: [1] } },
      { profile: "not a message" },
    ];
    for (const fields of wrong) {
      const customer = Object.assign(create(CustomerSchema), fields);
      expectSameAsToBinary(CustomerSchema, customer);
    }
  });
});

describe("wireEncoder and frozen messages", () => {
  const customers = () => [
    create(CustomerSchema, { customerId: 1n, firstName: "Ada", profile: { tags: ["a", "b"] } }),
    create(CustomerSchema, { customerId: 2n, firstName: "Grace", profile: { notes: "n".repeat(300) } }),
  ];

  it("remembers the bytes it writes for a frozen message nested in another, exactly its own encoding", () => {
    const frozen = customers().map(freezeMessage);
    const page = create(ListCustomersResponseSchema, { customers: frozen, nextPageToken: "t", totalSize: 2 });
    expectSameAsToBinary(ListCustomersResponseSchema, page);
    for (const customer of frozen) expect(rememberedEncoding(customer)).toEqual(asBytes(toBinary(CustomerSchema, customer)));
    // Written again from what it remembered: still the same bytes.
    expectSameAsToBinary(ListCustomersResponseSchema, page);
  });

  it("writes a frozen message from its remembered encoding", () => {
    const frozen = freezeMessage(create(CustomerSchema, { customerId: 1n, firstName: "Ada" }));
    const remembered = Buffer.from(toBinary(CustomerSchema, create(CustomerSchema, { firstName: "remembered" })));
    encodeOnce(frozen, () => remembered);
    const page = create(ListCustomersResponseSchema, { customers: [frozen] });
    const decoded = fromBinary(ListCustomersResponseSchema, wireEncoder(ListCustomersResponseSchema)(page));
    expect(decoded.customers.map((customer) => customer.firstName)).toEqual(["remembered"]);
  });

  it("remembers nothing for messages that are not frozen", () => {
    const page = create(ListCustomersResponseSchema, { customers: customers() });
    wireEncoder(ListCustomersResponseSchema)(page);
    for (const customer of page.customers) expect(rememberedEncoding(customer)).toBeUndefined();
  });
});

function asBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
