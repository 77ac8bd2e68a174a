import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import {
  ContactChannel,
  CustomerProfileSchema,
  CustomerSchema,
  CustomerStatus,
  LoyaltyTier,
  type Customer,
  type CustomerProfile,
} from "../gen/chinook/v1/customer_pb";
import { FIELD_LIMITS, validateCustomer } from "../src/customers/validation";
import { InvalidArgumentError } from "../src/errors";
import { thrownBy } from "./support/errors";

type CustomerInit = Exclude<MessageInitShape<typeof CustomerSchema>, Customer>;
type ProfileInit = Exclude<MessageInitShape<typeof CustomerProfileSchema>, CustomerProfile>;

function validCustomer(overrides: CustomerInit = {}, profile: ProfileInit = {}): Customer {
  return create(CustomerSchema, {
    firstName: "Luís",
    lastName: "Gonçalves",
    email: "luisg@embraer.com.br",
    company: "Embraer - Empresa Brasileira de Aeronáutica S.A.",
    city: "São José dos Campos",
    country: "Brazil",
    supportRepId: 3n,
    status: CustomerStatus.ACTIVE,
    ...overrides,
    profile: create(CustomerProfileSchema, {
      loyaltyTier: LoyaltyTier.GOLD,
      tags: ["vip", "jazz"],
      favoriteGenreIds: [1n, 2n],
      attributes: { source: "web" },
      preferredContact: ContactChannel.EMAIL,
      notes: "Prefers invoices by email.",
      ...profile,
    }),
  });
}

/** A valid customer with one field, named by its proto name, set through reflection. */
function withField(name: string, value: unknown): Customer {
  const customer = validCustomer();
  const message = reflect(CustomerSchema, customer);
  const field = message.fields.find((candidate) => candidate.name === name);
  if (field === undefined) {
    throw new Error(`no field ${name}`);
  }
  message.set(field, value);
  return customer;
}


function invalidFieldOf(customer: Customer, prefix?: string): string {
  return thrownBy(() => validateCustomer(customer, prefix)).field;
}

const TEXT_LIMITS = Object.entries(FIELD_LIMITS).flatMap(([name, rule]) =>
  "maxChars" in rule && !name.includes(".") && name !== "email" ? [{ name, max: rule.maxChars }] : [],
);

describe("validateCustomer", () => {
  it("accepts a valid customer", () => {
    expect(() => validateCustomer(validCustomer())).not.toThrow();
  });

  it("names every field that breaks a rule, in field order, the first rule each breaks", () => {
    const customer = validCustomer({ firstName: " ", email: "\u0007".repeat(61) }, { tags: ["ok", ""] });

    expect(thrownBy(() => validateCustomer(customer)).violations).toEqual([
      { field: "customer.first_name", description: "must not be blank" },
      { field: "customer.email", description: "must not contain control characters" },
      { field: "customer.profile.tags[1]", description: "must not be blank" },
    ]);
  });

  it("accepts a minimal customer", () => {
    const customer = create(CustomerSchema, { firstName: "A", lastName: "B", email: "a@b.co" });
    expect(() => validateCustomer(customer)).not.toThrow();
  });

  it("covers every string column of the table", () => {
    const stringColumns = ["first_name", "last_name", "company", "address", "city", "state", "country", "postal_code"];
    expect(TEXT_LIMITS.map(({ name }) => name).sort()).toEqual([...stringColumns, "phone", "fax"].sort());
  });

  describe.each(TEXT_LIMITS)("$name (at most $max characters)", ({ name, max }) => {
    it("accepts exactly the limit", () => {
      expect(() => validateCustomer(withField(name, "x".repeat(max)))).not.toThrow();
    });

    it("rejects one more than the limit", () => {
      expect(invalidFieldOf(withField(name, "x".repeat(max + 1)))).toBe(`customer.${name}`);
    });

    it("counts multibyte letters as one character each", () => {
      expect(() => validateCustomer(withField(name, "ç".repeat(max)))).not.toThrow();
      expect(invalidFieldOf(withField(name, "ç".repeat(max + 1)))).toBe(`customer.${name}`);
    });

    it("counts an emoji (a surrogate pair) as one character", () => {
      expect(() => validateCustomer(withField(name, "😀".repeat(max)))).not.toThrow();
      expect(invalidFieldOf(withField(name, "😀".repeat(max + 1)))).toBe(`customer.${name}`);
    });

    it.each(["\u0000", "\u0007", "\n", "\t", "\u007f", "\u0085"])("rejects the control character %j", (control) => {
      expect(invalidFieldOf(withField(name, `ab${control}c`))).toBe(`customer.${name}`);
    });
  });

  it("counts Gonçalves as 9 characters", () => {
    expect(() => validateCustomer(validCustomer({ lastName: "Gonçalves".padEnd(20, "s") }))).not.toThrow();
    expect(invalidFieldOf(validCustomer({ lastName: "Gonçalves".padEnd(21, "s") }))).toBe("customer.last_name");
  });

  it.each([
    ["first_name", { firstName: "" }],
    ["first_name", { firstName: "   " }],
    ["last_name", { lastName: "" }],
    ["last_name", { lastName: "\u00a0" }],
    ["first_name", { firstName: "\u200b" }],
    ["last_name", { lastName: "\u200d\ufeff " }],
    ["email", { email: "" }],
  ])("requires %s to be non-blank", (name, overrides) => {
    expect(invalidFieldOf(validCustomer(overrides))).toBe(`customer.${name}`);
  });

  it("names the first offending field", () => {
    expect(invalidFieldOf(validCustomer({ firstName: "", email: "not an address" }))).toBe("customer.first_name");
  });

  it("prefixes the path with the caller's location, e.g. in a batch", () => {
    expect(invalidFieldOf(validCustomer({ email: "nope" }), "requests[3].customer")).toBe("requests[3].customer.email");
    expect(invalidFieldOf(validCustomer({}, { tags: [""] }), "requests[0].customer")).toBe(
      "requests[0].customer.profile.tags[0]",
    );
  });

  it("explains the problem in the message", () => {
    const error = thrownBy(() => validateCustomer(validCustomer({ firstName: "x".repeat(41) })));
    expect(error.message).toBe("customer.first_name: must be at most 40 characters, got 41");
  });

  it("accepts optional fields that are present but empty", () => {
    expect(() => validateCustomer(validCustomer({ company: "", fax: "" }))).not.toThrow();
  });

  describe("email", () => {
    it.each([
      "luisg@embraer.com.br",
      "o'reilly+music@example.co.uk",
      "UPPER.case@Example.COM",
      "jörg@müller.de",
      "a-b_c@mail-1.example.com",
      "\u00e9@example.com",
    ])("accepts %s", (email) => {
      expect(() => validateCustomer(validCustomer({ email }))).not.toThrow();
    });

    it.each([
      "plainaddress",
      "@example.com",
      "a@",
      "a@localhost",
      "a@@example.com",
      "a@b@example.com",
      "a b@example.com",
      "a@exam ple.com",
      " a@example.com",
      "a@example.com\t",
      "a@.example.com",
      "a@example.",
      "a@example..com",
      "a\u0000@example.com",
      "a\u001b@example.com",
      "<ada@example.com>",
      "ada\u200b@example.com",
      "ada@example.com;",
      "ada@example.com/x",
      ".ada@example.com",
      "ada.@example.com",
      "ada@-example.com",
      "ada@example-.com",
      // Another spelling of an address that NFKC text spells otherwise: é@, sam@, kate@, fix@.
      "e\u0301@example.com",
      "\u017fam@example.com",
      "\u212aate@example.com",
      "\ufb01x@example.com",
    ])("rejects %j", (email) => {
      expect(invalidFieldOf(validCustomer({ email }))).toBe("customer.email");
    });

    it("accepts 60 characters and rejects 61", () => {
      const domain = "@example.com";
      expect(() => validateCustomer(validCustomer({ email: "a".repeat(60 - domain.length) + domain }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({ email: "a".repeat(61 - domain.length) + domain }))).toBe("customer.email");
    });

    it("counts characters, not bytes", () => {
      const domain = "@example.com";
      expect(() => validateCustomer(validCustomer({ email: "é".repeat(60 - domain.length) + domain }))).not.toThrow();
    });
  });

  describe("support_rep_id", () => {
    it("may be unset", () => {
      expect(() => validateCustomer(validCustomer({ supportRepId: undefined }))).not.toThrow();
    });

    it("accepts a positive id", () => {
      expect(() => validateCustomer(validCustomer({ supportRepId: 1n }))).not.toThrow();
    });

    it.each([0n, -1n])("rejects %s", (supportRepId) => {
      expect(invalidFieldOf(validCustomer({ supportRepId }))).toBe("customer.support_rep_id");
    });
  });

  describe("status", () => {
    it.each([CustomerStatus.UNSPECIFIED, CustomerStatus.ACTIVE, CustomerStatus.INACTIVE, CustomerStatus.SUSPENDED])(
      "accepts %s",
      (status) => {
        expect(() => validateCustomer(validCustomer({ status }))).not.toThrow();
      },
    );

    it("rejects DELETED, pointing at DeleteCustomer", () => {
      const error = thrownBy(() => validateCustomer(validCustomer({ status: CustomerStatus.DELETED })));
      expect(error.field).toBe("customer.status");
      expect(error.message).toBe("customer.status: use DeleteCustomer to delete");
    });

    it.each([5, 99, -1])("rejects the unknown value %s", (status) => {
      expect(invalidFieldOf(withField("status", status))).toBe("customer.status");
    });
  });

  describe("profile", () => {
    it("may be absent", () => {
      const customer = validCustomer();
      customer.profile = undefined;
      expect(() => validateCustomer(customer)).not.toThrow();
    });

    it("accepts 100 tags and rejects 101", () => {
      const tags = (count: number) => Array.from({ length: count }, (_, index) => `tag${index}`);
      expect(() => validateCustomer(validCustomer({}, { tags: tags(100) }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { tags: tags(101) }))).toBe("customer.profile.tags");
    });

    it("names the offending tag by index", () => {
      expect(invalidFieldOf(validCustomer({}, { tags: ["a", "b", " "] }))).toBe("customer.profile.tags[2]");
      expect(invalidFieldOf(validCustomer({}, { tags: ["a", ""] }))).toBe("customer.profile.tags[1]");
      expect(invalidFieldOf(validCustomer({}, { tags: ["a\u0000"] }))).toBe("customer.profile.tags[0]");
    });

    it("accepts a tag of 64 characters and rejects 65", () => {
      expect(() => validateCustomer(validCustomer({}, { tags: ["ü".repeat(64)] }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { tags: ["ok", "ü".repeat(65)] }))).toBe("customer.profile.tags[1]");
    });

    it("accepts 100 favorite genres and rejects 101", () => {
      const ids = (count: number) => Array.from({ length: count }, (_, index) => BigInt(index + 1));
      expect(() => validateCustomer(validCustomer({}, { favoriteGenreIds: ids(100) }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { favoriteGenreIds: ids(101) }))).toBe(
        "customer.profile.favorite_genre_ids",
      );
    });

    it.each([0n, -5n])("rejects the favorite genre id %s", (id) => {
      expect(invalidFieldOf(validCustomer({}, { favoriteGenreIds: [1n, id] }))).toBe(
        "customer.profile.favorite_genre_ids[1]",
      );
    });

    it("accepts 100 attributes and rejects 101", () => {
      const attributes = (count: number) =>
        Object.fromEntries(Array.from({ length: count }, (_, index) => [`key${index}`, "value"]));
      expect(() => validateCustomer(validCustomer({}, { attributes: attributes(100) }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { attributes: attributes(101) }))).toBe("customer.profile.attributes");
    });

    it("rejects a blank attribute key, naming it", () => {
      const error = thrownBy(() => validateCustomer(validCustomer({}, { attributes: { "": "value" } })));
      expect(error.field).toBe('customer.profile.attributes[""]');
      expect(error.message).toBe('customer.profile.attributes[""]: key must not be blank');
    });

    it("accepts an attribute key of 64 characters and rejects 65, naming it cut", () => {
      expect(() => validateCustomer(validCustomer({}, { attributes: { ["k".repeat(64)]: "v" } }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { attributes: { ["k".repeat(65)]: "v" } }))).toBe(
        `customer.profile.attributes["${"k".repeat(48)}…" (65 characters)]`,
      );
    });

    it("accepts an attribute value of 1024 characters and rejects 1025", () => {
      expect(() => validateCustomer(validCustomer({}, { attributes: { k: "€".repeat(1024) } }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { attributes: { k: "€".repeat(1025) } }))).toBe(
        'customer.profile.attributes["k"]',
      );
    });

    it("accepts an empty attribute value but not a control character in it", () => {
      expect(() => validateCustomer(validCustomer({}, { attributes: { k: "" } }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { attributes: { k: "a\u0000" } }))).toBe(
        'customer.profile.attributes["k"]',
      );
    });

    it("escapes an attribute key in the path", () => {
      expect(invalidFieldOf(validCustomer({}, { attributes: { 'say "hi"\u0001': "v" } }))).toBe(
        'customer.profile.attributes["say \\"hi\\"\\u0001"]',
      );
    });

    it("accepts notes of 4000 characters and rejects 4001", () => {
      expect(() => validateCustomer(validCustomer({}, { notes: "ñ".repeat(4000) }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { notes: "ñ".repeat(4001) }))).toBe("customer.profile.notes");
    });

    it("allows line breaks and tabs in notes, but no other control characters", () => {
      expect(() => validateCustomer(validCustomer({}, { notes: "line one\r\nline two\n\tindented" }))).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { notes: "nul\u0000" }))).toBe("customer.profile.notes");
      expect(invalidFieldOf(validCustomer({}, { notes: "bell\u0007" }))).toBe("customer.profile.notes");
    });

    it.each([
      ["loyalty_tier", { loyaltyTier: 42 }],
      ["preferred_contact", { preferredContact: 42 }],
    ])("rejects an unknown %s", (name, profile) => {
      expect(invalidFieldOf(validCustomer({}, profile))).toBe(`customer.profile.${name}`);
    });

    it("rejects a last contact time that proto3 JSON cannot represent", () => {
      expect(() =>
        validateCustomer(validCustomer({}, { lastContactTime: { seconds: 1_700_000_000n, nanos: 5 } })),
      ).not.toThrow();
      expect(invalidFieldOf(validCustomer({}, { lastContactTime: { seconds: 253_402_300_800n } }))).toBe(
        "customer.profile.last_contact_time",
      );
      expect(invalidFieldOf(validCustomer({}, { lastContactTime: { seconds: 0n, nanos: -1 } }))).toBe(
        "customer.profile.last_contact_time",
      );
    });
  });

  it("ignores output-only fields: the server overwrites them", () => {
    const customer = validCustomer({
      customerId: -1n,
      etag: "\u0000",
      createTime: { seconds: -1n, nanos: -1 },
      updateTime: { nanos: 2_000_000_000 },
    });
    expect(() => validateCustomer(customer)).not.toThrow();
  });

  it("throws InvalidArgumentError, which the transport maps to INVALID_ARGUMENT", () => {
    const error = thrownBy(() => validateCustomer(validCustomer({ lastName: "" })));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.kind).toBe("invalid_argument");
  });
});
