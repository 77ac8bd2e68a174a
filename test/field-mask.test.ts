import { clone, create, equals, fromJson, type MessageInitShape } from "@bufbuild/protobuf";
import { FieldMaskSchema, type FieldMask } from "@bufbuild/protobuf/wkt";
import {
  ContactChannel,
  CustomerProfileSchema,
  CustomerSchema,
  CustomerStatus,
  LoyaltyTier,
  type Customer,
  type CustomerProfile,
} from "../gen/chinook/v1/customer_pb";
import { applyUpdateMask, OUTPUT_ONLY_FIELDS, validateUpdateMask } from "../src/customers/field-mask";
import { thrownBy } from "./support/errors";

type CustomerInit = MessageInitShape<typeof CustomerSchema>;

function storedCustomer(): Customer {
  return create(CustomerSchema, {
    customerId: 7n,
    firstName: "Luís",
    lastName: "Gonçalves",
    company: "Embraer",
    city: "São José dos Campos",
    country: "Brazil",
    phone: "+55 (12) 3923-5555",
    email: "luisg@embraer.com.br",
    supportRepId: 3n,
    status: CustomerStatus.ACTIVE,
    profile: {
      loyaltyTier: LoyaltyTier.SILVER,
      tags: ["vip", "jazz"],
      favoriteGenreIds: [1n, 2n],
      marketingOptIn: true,
      attributes: { source: "web", locale: "pt-BR" },
      preferredContact: ContactChannel.EMAIL,
      notes: "Prefers email.",
      lastContactTime: { seconds: 1_600_000_000n },
    },
    createTime: { seconds: 1_500_000_000n },
    updateTime: { seconds: 1_600_000_000n },
    etag: '"v1"',
  });
}

/** The stored customer with some fields changed: what a test expects back. */
function storedWith(changes: (customer: Customer) => void): Customer {
  const customer = storedCustomer();
  changes(customer);
  return customer;
}

/** The stored customer with some profile fields changed. */
function storedWithProfile(changes: (profile: CustomerProfile) => void): Customer {
  return storedWith((customer) => {
    const profile = customer.profile ?? create(CustomerProfileSchema);
    changes(profile);
    customer.profile = profile;
  });
}

function patchOf(init: CustomerInit): Customer {
  return create(CustomerSchema, init);
}

function mask(...paths: string[]): FieldMask {
  return create(FieldMaskSchema, { paths });
}

function expectCustomer(actual: Customer, expected: Customer): void {
  expect(equals(CustomerSchema, actual, expected)).toBe(true);
}


describe("applyUpdateMask", () => {
  it("replaces a single masked field", () => {
    const patch = patchOf({ firstName: "Luiz", lastName: "ignored" });
    const result = applyUpdateMask(storedCustomer(), patch, mask("first_name"));
    expectCustomer(result, storedWith((customer) => (customer.firstName = "Luiz")));
  });

  it("replaces several masked fields", () => {
    const patch = patchOf({
      email: "new@example.com",
      supportRepId: 4n,
      status: CustomerStatus.SUSPENDED,
      city: "Rio",
    });
    const result = applyUpdateMask(storedCustomer(), patch, mask("email", "support_rep_id", "status"));
    expectCustomer(
      result,
      storedWith((customer) => {
        customer.email = "new@example.com";
        customer.supportRepId = 4n;
        customer.status = CustomerStatus.SUSPENDED;
      }),
    );
  });

  it("changes a nested profile field and keeps the rest of the profile", () => {
    const patch = patchOf({ profile: { loyaltyTier: LoyaltyTier.GOLD, tags: ["ignored"] } });
    const result = applyUpdateMask(storedCustomer(), patch, mask("profile.loyalty_tier"));
    expectCustomer(result, storedWithProfile((profile) => (profile.loyaltyTier = LoyaltyTier.GOLD)));
  });

  it("replaces a repeated field wholesale rather than merging", () => {
    const result = applyUpdateMask(storedCustomer(), patchOf({ profile: { tags: ["rock"] } }), mask("profile.tags"));
    expect(result.profile?.tags).toEqual(["rock"]);
    expect(result.profile?.loyaltyTier).toBe(LoyaltyTier.SILVER);
  });

  it("replaces a map field wholesale rather than merging", () => {
    const patch = patchOf({ profile: { attributes: { locale: "en-US" } } });
    const result = applyUpdateMask(storedCustomer(), patch, mask("profile.attributes"));
    expect(result.profile?.attributes).toEqual({ locale: "en-US" });
  });

  it("clears a masked nested field that the patch leaves unset", () => {
    const result = applyUpdateMask(storedCustomer(), patchOf({}), mask("profile.tags", "profile.last_contact_time"));
    expect(result.profile?.tags).toEqual([]);
    expect(result.profile?.lastContactTime).toBeUndefined();
    expect(result.profile?.notes).toBe("Prefers email.");
  });

  it("replaces the whole profile when masked as a whole", () => {
    const patch = patchOf({ profile: { loyaltyTier: LoyaltyTier.GOLD } });
    const result = applyUpdateMask(storedCustomer(), patch, mask("profile"));
    expectCustomer(result, storedWith((customer) => (customer.profile = patch.profile)));
  });

  it("removes the profile when it is masked but absent from the patch", () => {
    const result = applyUpdateMask(storedCustomer(), patchOf({}), mask("profile"));
    expect(result.profile).toBeUndefined();
  });

  it("creates the profile when a nested path sets a field of a customer without one", () => {
    const current = storedWith((customer) => (customer.profile = undefined));
    const patch = patchOf({ profile: { loyaltyTier: LoyaltyTier.GOLD } });
    const result = applyUpdateMask(current, patch, mask("profile.loyalty_tier"));
    expectCustomer(result, storedWith((customer) => (customer.profile = patch.profile)));
  });

  it("does not invent an empty profile when a nested path clears a field nobody has", () => {
    const current = storedWith((customer) => (customer.profile = undefined));
    const result = applyUpdateMask(current, patchOf({}), mask("profile.tags"));
    expect(result.profile).toBeUndefined();
  });

  it("does not invent an empty profile when the patch clears a nested field with a profile of its own", () => {
    const current = storedWith((customer) => (customer.profile = undefined));
    const result = applyUpdateMask(current, patchOf({ profile: { tags: [], notes: "not masked" } }), mask("profile.tags"));
    expect(result.profile).toBeUndefined();
  });

  describe("optional fields", () => {
    it("clears a masked optional field the patch does not set (NULL)", () => {
      const result = applyUpdateMask(storedCustomer(), patchOf({}), mask("company", "support_rep_id"));
      expect(result.company).toBeUndefined();
      expect(result.supportRepId).toBeUndefined();
    });

    it("keeps an empty string distinct from unset", () => {
      const result = applyUpdateMask(storedCustomer(), patchOf({ company: "" }), mask("company"));
      expect(result.company).toBe("");
    });

    it("resets a masked proto3 field the patch leaves at its default", () => {
      const result = applyUpdateMask(storedCustomer(), patchOf({}), mask("status"));
      expect(result.status).toBe(CustomerStatus.UNSPECIFIED);
    });
  });

  it("ignores output-only paths (AIP-203)", () => {
    const patch = patchOf({
      customerId: 99n,
      firstName: "Luiz",
      createTime: { seconds: 1n },
      updateTime: { seconds: 2n },
      etag: '"forged"',
    });
    const updateMask = mask("customer_id", "create_time", "update_time", "etag", "first_name");
    const result = applyUpdateMask(storedCustomer(), patch, updateMask);
    expectCustomer(result, storedWith((customer) => (customer.firstName = "Luiz")));
  });

  it("treats output-only fields as exactly customer_id, create_time, update_time and etag", () => {
    expect([...OUTPUT_ONLY_FIELDS].sort()).toEqual(["create_time", "customer_id", "etag", "update_time"]);
  });

  describe('"*" (full replacement, AIP-134)', () => {
    it("replaces every mutable field, clearing what the patch leaves unset", () => {
      const patch = patchOf({
        customerId: 99n,
        firstName: "Ana",
        lastName: "Silva",
        email: "ana@example.com",
        profile: { tags: ["new"] },
        etag: '"forged"',
      });
      const result = applyUpdateMask(storedCustomer(), patch, mask("*"));
      const stored = storedCustomer();
      const expected = clone(CustomerSchema, patch);
      expected.customerId = stored.customerId;
      expected.createTime = stored.createTime;
      expected.updateTime = stored.updateTime;
      expected.etag = stored.etag;
      expectCustomer(result, expected);
    });

    it("must be the only path", () => {
      const error = thrownBy(() => applyUpdateMask(storedCustomer(), patchOf({}), mask("*", "first_name")));
      expect(error.field).toBe("update_mask");
    });
  });

  describe("implied mask (empty or absent)", () => {
    it.each([
      ["absent", undefined],
      ["empty", mask()],
    ])("when %s, changes only the fields the patch sets", (_, emptyMask) => {
      const result = applyUpdateMask(storedCustomer(), patchOf({ firstName: "Luiz", city: "Rio" }), emptyMask);
      expectCustomer(
        result,
        storedWith((customer) => {
          customer.firstName = "Luiz";
          customer.city = "Rio";
        }),
      );
    });

    it("recurses into the profile, keeping its other fields", () => {
      const patch = patchOf({ profile: { loyaltyTier: LoyaltyTier.GOLD } });
      const result = applyUpdateMask(storedCustomer(), patch, undefined);
      expectCustomer(result, storedWithProfile((profile) => (profile.loyaltyTier = LoyaltyTier.GOLD)));
    });

    it("replaces a repeated profile field that the patch sets", () => {
      const result = applyUpdateMask(storedCustomer(), patchOf({ profile: { tags: ["rock"] } }), undefined);
      expect(result.profile?.tags).toEqual(["rock"]);
      expect(result.profile?.attributes).toEqual({ source: "web", locale: "pt-BR" });
    });

    it("counts an optional field as set when present, even if empty", () => {
      const result = applyUpdateMask(storedCustomer(), patchOf({ company: "" }), undefined);
      expect(result.company).toBe("");
    });

    it("leaves proto3 fields at their default untouched", () => {
      const patch = patchOf({ firstName: "Luiz", status: CustomerStatus.UNSPECIFIED });
      const result = applyUpdateMask(storedCustomer(), patch, undefined);
      expect(result.status).toBe(CustomerStatus.ACTIVE);
      expect(result.lastName).toBe("Gonçalves");
    });

    it("never counts output-only fields", () => {
      const patch = patchOf({
        customerId: 99n,
        etag: '"v0"',
        createTime: { seconds: 1n },
        updateTime: { seconds: 1n },
      });
      expectCustomer(applyUpdateMask(storedCustomer(), patch, undefined), storedCustomer());
    });

    it("sets a profile on a customer that had none", () => {
      const current = storedWith((customer) => (customer.profile = undefined));
      const result = applyUpdateMask(current, patchOf({ profile: { notes: "hello" } }), undefined);
      expect(result.profile?.notes).toBe("hello");
    });
  });

  describe("invalid paths", () => {
    it.each([
      "nope",
      "firstName",
      "FIRST_NAME",
      "email.x",
      "profile.tags.x",
      "profile.attributes.source",
      "profile.nope",
      "profile.last_contact_time.seconds",
      "create_time.seconds",
      "profile.",
      ".profile",
      "",
    ])("rejects %j as update_mask", (path) => {
      const error = thrownBy(() => applyUpdateMask(storedCustomer(), patchOf({}), mask("first_name", path)));
      expect(error.field).toBe("update_mask");
      expect(error.message).toBe(`update_mask: unknown field path "${path}"`);
    });

    it("validateUpdateMask rejects them before anything is touched", () => {
      expect(thrownBy(() => validateUpdateMask(mask("email.x"))).field).toBe("update_mask");
      expect(thrownBy(() => validateUpdateMask(mask("*", "email"))).field).toBe("update_mask");
    });

    it.each([
      ["absent", undefined],
      ["empty", mask()],
      ["full replacement", mask("*")],
      ["output-only", mask("etag")],
      ["nested", mask("first_name", "profile", "profile.loyalty_tier", "profile.attributes")],
    ])("validateUpdateMask accepts a valid mask (%s)", (_, valid) => {
      expect(() => validateUpdateMask(valid)).not.toThrow();
    });
  });

  it("does not modify its inputs", () => {
    const current = storedCustomer();
    const patch = patchOf({ firstName: "Luiz", company: "New", profile: { tags: ["rock"], attributes: { a: "b" } } });
    const updateMask = mask("first_name", "company", "profile.tags", "profile.attributes", "profile.notes");
    const [currentBefore, patchBefore, maskBefore] = [
      clone(CustomerSchema, current),
      clone(CustomerSchema, patch),
      clone(FieldMaskSchema, updateMask),
    ];

    for (const each of [updateMask, mask("*"), mask("profile"), undefined]) {
      applyUpdateMask(current, patch, each);
    }

    expect(equals(CustomerSchema, current, currentBefore)).toBe(true);
    expect(equals(CustomerSchema, patch, patchBefore)).toBe(true);
    expect(equals(FieldMaskSchema, updateMask, maskBefore)).toBe(true);
  });

  it("returns a result that shares nothing with its inputs", () => {
    const current = storedCustomer();
    const patch = patchOf({ profile: { tags: ["rock"], attributes: { a: "b" } } });
    const result = applyUpdateMask(current, patch, mask("profile"));
    result.profile?.tags.push("mutated");
    if (result.profile) {
      result.profile.attributes.a = "mutated";
    }
    const untouched = applyUpdateMask(current, patch, undefined);
    expect(result.profile?.tags).toEqual(["rock", "mutated"]);
    expect(patch.profile?.tags).toEqual(["rock"]);
    expect(patch.profile?.attributes).toEqual({ a: "b" });
    expect(current.profile?.tags).toEqual(["vip", "jazz"]);
    expect(untouched.profile?.tags).toEqual(["rock"]);
  });

  it("accepts a mask decoded from JSON (camelCase becomes proto names)", () => {
    const jsonMask = fromJson(FieldMaskSchema, "firstName,profile.loyaltyTier");
    expect(jsonMask.paths).toEqual(["first_name", "profile.loyalty_tier"]);
    const patch = patchOf({
      firstName: "Luiz",
      lastName: "ignored",
      profile: { loyaltyTier: LoyaltyTier.PLATINUM, tags: [] },
    });
    const result = applyUpdateMask(storedCustomer(), patch, jsonMask);
    expectCustomer(
      result,
      storedWith((customer) => {
        customer.firstName = "Luiz";
        if (customer.profile) {
          customer.profile.loyaltyTier = LoyaltyTier.PLATINUM;
        }
      }),
    );
  });
});
