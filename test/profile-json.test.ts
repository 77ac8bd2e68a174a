import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { CustomerProfileSchema, CustomerSchema } from "../gen/chinook/v1/customer_pb";
import { canonicalProfile, profileFromJsonText, timestampFromText } from "../src/customers/profile-json";
import { Random } from "../bench/random";
import { syntheticCustomer } from "../bench/synthetic-customers";

/** protobuf-es, the reference the direct reader must agree with. */
function reference(data: string) {
  return fromJsonString(CustomerProfileSchema, data, { ignoreUnknownFields: true });
}

function expectAsReference(data: string): void {
  expect(profileFromJsonText(data)).toEqual(reference(data));
}

/** Read by the direct reader itself, not handed over. */
function expectReadDirectly(data: string): void {
  expect(canonicalProfile(data)).toEqual(reference(data));
}

describe("profileFromJsonText", () => {
  it("reads what toJson writes exactly as protobuf-es does, for a thousand varied profiles", () => {
    const random = new Random(42);
    for (let serial = 0; serial < 1000; serial++) {
      const { profile } = create(CustomerSchema, syntheticCustomer(random, serial).customer);
      expectReadDirectly(toJsonString(CustomerProfileSchema, profile ?? create(CustomerProfileSchema)));
    }
  });

  it.each([
    ["an empty profile", "{}"],
    ["every field", '{"loyaltyTier":"LOYALTY_TIER_PLATINUM","tags":["a","b"],"favoriteGenreIds":["1","-9223372036854775808","9223372036854775807"],"marketingOptIn":true,"attributes":{"k":"v","x":""},"preferredContact":"CONTACT_CHANNEL_MAIL","notes":"n\\u00e9\\n","lastContactTime":"2020-02-29T23:59:59Z"}'],
    ["milliseconds at the first representable second", '{"lastContactTime":"0001-01-01T00:00:00.001Z"}'],
    ["microseconds at the last representable second", '{"lastContactTime":"9999-12-31T23:59:59.999999Z"}'],
    ["nanoseconds", '{"lastContactTime":"1970-01-01T00:00:00.000000001Z"}'],
    ["default values written out", '{"loyaltyTier":"LOYALTY_TIER_UNSPECIFIED","tags":[],"marketingOptIn":false,"notes":""}'],
  ])("reads %s itself, as protobuf-es does", (_name, data) => {
    expectReadDirectly(data);
  });

  // Forms toJson never writes: the direct reader must hand them over, not misread them.
  it.each([
    ["proto field names", '{"loyalty_tier":"LOYALTY_TIER_GOLD","marketing_opt_in":true}'],
    ["enum numbers", '{"loyaltyTier":3,"preferredContact":1}'],
    ["an unknown enum name", '{"loyaltyTier":"LOYALTY_TIER_DIAMOND"}'],
    ["int64 numbers", '{"favoriteGenreIds":[1,2]}'],
    ["nulls", '{"tags":null,"lastContactTime":null,"loyaltyTier":null}'],
    ["a key from a newer build", '{"loyaltyTier":"LOYALTY_TIER_GOLD","futureField":{"x":1}}'],
    ["keys an object has by inheritance", '{"__proto__":{"x":1},"constructor":1,"hasOwnProperty":2,"toString":3}'],
    ["a time with an offset", '{"lastContactTime":"2020-01-01T01:00:00+01:00"}'],
    ["a time with two fraction digits", '{"lastContactTime":"2020-01-01T00:00:00.12Z"}'],
    ["a day past the end of the month", '{"lastContactTime":"2020-02-30T00:00:00Z"}'],
    ["a leap day in a century year that is not a leap year", '{"lastContactTime":"1900-02-29T00:00:00Z"}'],
    ["hour 24", '{"lastContactTime":"2020-01-01T24:00:00Z"}'],
  ])("hands %s to protobuf-es", (_name, data) => {
    expect(canonicalProfile(data)).toBeUndefined();
    expectAsReference(data);
  });

  it.each([
    ["JSON that is not an object", "[1]"],
    ["broken JSON", "{"],
    ["an int64 out of range", '{"favoriteGenreIds":["9223372036854775808"]}'],
    ["a tag that is not a string", '{"tags":[1]}'],
    ["a time at second 60", '{"lastContactTime":"2016-12-31T23:59:60Z"}'],
    ["a time in month 13", '{"lastContactTime":"2020-13-01T00:00:00Z"}'],
    ["a time on day 0", '{"lastContactTime":"2020-01-00T00:00:00Z"}'],
    ["a time with a lower-case t", '{"lastContactTime":"2020-01-01t00:00:00Z"}'],
    ["a time with a sign in a digit's place", '{"lastContactTime":"2020-01-01T00:00:00.-12Z"}'],
  ])("fails on %s as protobuf-es does", (_name, data) => {
    expect(() => reference(data)).toThrow();
    expect(() => profileFromJsonText(data)).toThrow();
  });
});

describe("timestampFromText", () => {
  const FIRST_MS = Date.parse("0000-01-01T00:00:00Z");
  const LAST_MS = Date.parse("9999-12-31T23:59:59.999Z");

  /** A random instant in years 0000–9999 as toISOString writes it, with 0, 3, 6 or 9 fraction digits. */
  function randomText(random: Random): string {
    const iso = new Date(random.integer(FIRST_MS, LAST_MS)).toISOString();
    const digits = random.pick([0, 3, 6, 9]);
    const extra = Array.from({ length: Math.max(digits - 3, 0) }, () => random.integer(0, 9)).join("");
    return digits === 0 ? `${iso.slice(0, 19)}Z` : `${iso.slice(0, 23)}${extra}Z`;
  }

  it("reads the instant Date.parse reads, to the nanosecond, for ten thousand texts", () => {
    const random = new Random(3);
    for (let i = 0; i < 10_000; i++) {
      const text = randomText(random);
      const wholeMs = Date.parse(`${text.slice(0, 19)}Z`);
      const fraction = text.length > 20 ? text.slice(20, -1) : "";
      expect(timestampFromText(text)).toStrictEqual(
        create(TimestampSchema, { seconds: BigInt(wholeMs / 1000), nanos: Number(fraction.padEnd(9, "0")) }),
      );
    }
  });

  it("reads every day of leap and common years, centuries included", () => {
    for (const year of [1900, 2000, 2023, 2024]) {
      for (let ms = Date.UTC(year, 0, 1); ms < Date.UTC(year + 1, 0, 1); ms += 86_400_000) {
        const text = new Date(ms).toISOString();
        expect(timestampFromText(text)?.seconds).toBe(BigInt(ms / 1000));
      }
    }
  });

  it.each(["2020-01-01T00:00:00.12Z", "2020-01-01T00:00:00+00:00", "2020-01-01 00:00:00Z", "+002020-01-01T00:00:00Z", "2021-02-29T00:00:00Z", ""])(
    "reads no instant from %j",
    (text) => {
      expect(timestampFromText(text)).toBeUndefined();
    },
  );
});
