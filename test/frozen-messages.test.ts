import { create, toBinary } from "@bufbuild/protobuf";
import { CustomerSchema } from "../gen/chinook/v1/customer_pb";
import { FileDescriptorResponseSchema } from "../gen/grpc/reflection/v1/reflection_pb";
import { encodeOnce, freezeMessage } from "../src/grpc/frozen-messages";

function countingEncoder() {
  const calls: object[] = [];
  const encode = (message: object): Buffer => {
    calls.push(message);
    return Buffer.from([calls.length]);
  };
  return { calls, encode };
}

describe("freezeMessage", () => {
  it("freezes a message and everything in it, and changes nothing it encodes to", () => {
    const init = {
      company: "v1",
      profile: { tags: ["a"], attributes: { k: "v" }, lastContactTime: { seconds: 1n } },
      createTime: { seconds: 2n },
    };
    const customer = freezeMessage(create(CustomerSchema, init));
    const { profile } = customer;
    expect(Object.isFrozen(customer)).toBe(true);
    expect(profile !== undefined && Object.isFrozen(profile)).toBe(true);
    expect(() => profile?.tags.push("b")).toThrow(TypeError);
    expect(() => {
      if (profile !== undefined) profile.attributes.k = "changed";
    }).toThrow(TypeError);
    expect(() => {
      if (customer.createTime !== undefined) customer.createTime.seconds = 3n;
    }).toThrow(TypeError);
    expect(toBinary(CustomerSchema, customer)).toEqual(toBinary(CustomerSchema, create(CustomerSchema, init)));
  });
});

describe("encodeOnce", () => {
  it("encodes a frozen message once and returns the same bytes after", () => {
    const { calls, encode } = countingEncoder();
    const customer = freezeMessage(create(CustomerSchema, { company: "v1" }));
    const first = encodeOnce(customer, encode);
    expect(encodeOnce(customer, encode)).toBe(first);
    expect(calls).toHaveLength(1);
  });

  it("encodes every other message each time: it may have changed", () => {
    const { calls, encode } = countingEncoder();
    const mutable = create(CustomerSchema, { company: "v1" });
    const frozenByHand = Object.freeze(create(CustomerSchema, { profile: { tags: ["a"] } }));
    for (const message of [mutable, mutable, frozenByHand, frozenByHand]) encodeOnce(message, encode);
    expect(calls).toHaveLength(4);
  });

  it("never remembers the encoding of a message holding bytes, which cannot be frozen", () => {
    const { calls, encode } = countingEncoder();
    const response = freezeMessage(create(FileDescriptorResponseSchema, { fileDescriptorProto: [new Uint8Array([1])] }));
    encodeOnce(response, encode);
    encodeOnce(response, encode);
    expect(calls).toHaveLength(2);
  });
});
