import { create, toBinary } from "@bufbuild/protobuf";
import { CustomerSchema, type Customer } from "../gen/chinook/v1/customer_pb";
import { customerSizeBound, sizeBoundOnce } from "../src/customers/size";
import { freezeMessage } from "../src/grpc/frozen-messages";
import { CHINOOK_CUSTOMER_1 } from "./support/chinook";

/** The largest of each kind of text validation allows, in characters that take the most UTF-8 per UTF-16 unit. */
function largest(character: string): Customer {
  const text = (length: number) => character.repeat(length);
  return create(CustomerSchema, {
    ...CHINOOK_CUSTOMER_1,
    firstName: text(40),
    email: `${text(40)}@example.com`,
    etag: `"${"e".repeat(43)}"`,
    createTime: { seconds: 1n, nanos: 1 },
    profile: {
      tags: Array.from({ length: 100 }, (_, i) => `${i}${text(63)}`),
      attributes: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`${i}${text(63)}`, text(1024)])),
      notes: text(4000),
      favoriteGenreIds: Array.from({ length: 100 }, (_, i) => BigInt(i + 1)),
    },
  });
}

describe("customerSizeBound", () => {
  it.each([
    ["a Chinook customer", create(CustomerSchema, CHINOOK_CUSTOMER_1)],
    ["the largest customer in ASCII", largest("a")],
    ["the largest customer in 3-byte characters (€)", largest("€")],
    ["the largest customer with its map keys the largest part (😀 keys, empty values)", create(CustomerSchema, {
      profile: { attributes: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`${i}${"😀".repeat(31)}`, ""])) },
    })],
    ["a customer whose attributes hold a \"$typeName\" key, as a message does", create(CustomerSchema, {
      profile: {
        attributes: { $typeName: "", ...Object.fromEntries(Array.from({ length: 99 }, (_, i) => [`${i}${"😀".repeat(31)}`, ""])) },
      },
    })],
  ])("bounds the encoding of %s", (_case, customer) => {
    expect(customerSizeBound(customer)).toBeGreaterThanOrEqual(toBinary(CustomerSchema, customer).length);
  });
});

describe("sizeBoundOnce", () => {
  it("is customerSizeBound, for a frozen customer and for one that may still change", () => {
    const changing = create(CustomerSchema, CHINOOK_CUSTOMER_1);
    expect(sizeBoundOnce(changing)).toBe(customerSizeBound(changing));
    changing.company = "x".repeat(1000);
    expect(sizeBoundOnce(changing)).toBe(customerSizeBound(changing));
    const frozen = freezeMessage(largest("€"));
    expect(sizeBoundOnce(frozen)).toBe(customerSizeBound(frozen));
    expect(sizeBoundOnce(frozen)).toBe(customerSizeBound(frozen));
  });
});
