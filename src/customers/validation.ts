/**
 * The rules a Customer must satisfy before it is written. The limits are data
 * (FIELD_LIMITS); the walk over the message is driven by the descriptors, so
 * every string, enum and nested field is checked, including ones added later.
 */
import { isMessage, type DescEnum, type DescField } from "@bufbuild/protobuf";
import {
  isReflectList,
  isReflectMap,
  isReflectMessage,
  reflect,
  type ReflectList,
  type ReflectMap,
  type ReflectMessage,
} from "@bufbuild/protobuf/reflect";
import { TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { CustomerSchema, CustomerStatus, type Customer } from "../../gen/chinook/v1/customer_pb";
import { quoteClientValue } from "../client-text";
import { InvalidArgumentError, type FieldViolation } from "../errors";
import { isValidTimestamp, TIMESTAMP_RANGE } from "../timestamps";
import { OUTPUT_ONLY_FIELDS } from "./field-mask";

/** What a field, or each item of a repeated field or entry of a map, must satisfy. */
export interface FieldRule {
  /** Must be set; text must not be blank. */
  readonly required?: boolean;
  /** Text length in characters (Unicode code points). */
  readonly maxChars?: number;
  /** Text may contain tabs and line breaks (other control characters are always rejected). */
  readonly multiline?: boolean;
  /** Text must be an email address. */
  readonly email?: boolean;
  /** Integers must be greater than zero. */
  readonly positive?: boolean;
  /** An enum value this field must not take, and why. */
  readonly forbidden?: { readonly value: number; readonly reason: string };
  /** Repeated and map fields: at most this many items or entries. */
  readonly maxItems?: number;
  /** Repeated fields: each item; map fields: each value. */
  readonly items?: FieldRule;
  /** Map fields: each key. */
  readonly keys?: FieldRule;
}

/** Rules keyed by proto field path within Customer. */
export const FIELD_LIMITS = {
  first_name: { required: true, maxChars: 40 },
  last_name: { required: true, maxChars: 20 },
  company: { maxChars: 80 },
  address: { maxChars: 70 },
  city: { maxChars: 40 },
  state: { maxChars: 40 },
  country: { maxChars: 40 },
  postal_code: { maxChars: 10 },
  phone: { maxChars: 24 },
  fax: { maxChars: 24 },
  email: { required: true, maxChars: 60, email: true },
  support_rep_id: { positive: true },
  status: { forbidden: { value: CustomerStatus.DELETED, reason: "use DeleteCustomer to delete" } },
  "profile.tags": { maxItems: 100, items: { required: true, maxChars: 64 } },
  "profile.favorite_genre_ids": { maxItems: 100, items: { positive: true } },
  "profile.attributes": { maxItems: 100, keys: { required: true, maxChars: 64 }, items: { maxChars: 1024 } },
  "profile.notes": { maxChars: 4000, multiline: true },
} as const satisfies Readonly<Record<string, FieldRule>>;

const RULES: Readonly<Record<string, FieldRule | undefined>> = FIELD_LIMITS;
const NO_RULE: FieldRule = {};

const CONTROL_CHARACTER = /\p{Cc}/u;
const CONTROL_CHARACTER_OTHER_THAN_WHITESPACE = /(?![\t\n\r])\p{Cc}/u;
// RFC 5322's dot-atom (with RFC 6531's non-ASCII letters) @ a dotted domain of
// letter, digit and hyphen labels: no quoted local parts, no address literals,
// and nothing a mail header or a copy-paste wraps an address in (<…>, ';',
// zero-width spaces).
const EMAIL_ATOM = "[\\p{L}\\p{M}\\p{N}!#$%&'*+/=?^_`{|}~-]+";
const DOMAIN_LABEL = "[\\p{L}\\p{N}](?:[\\p{L}\\p{M}\\p{N}-]*[\\p{L}\\p{M}\\p{N}])?";
const EMAIL_ADDRESS = new RegExp(`^${EMAIL_ATOM}(?:\\.${EMAIL_ATOM})*@${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})+$`, "u");
// Blank: nothing but white space and invisible format characters (zero-width spaces, joiners, marks).
const BLANK = /^[\p{White_Space}\p{Cf}]*$/u;

/** Where a value sits. */
interface Location {
  /** Its field's key in FIELD_LIMITS. */
  readonly rule: string;
  /** Its path as the client sees it, for errors. */
  readonly path: string;
  /** The part of a map entry an error is about, when it is the key. */
  readonly subject?: string;
  /** Where the violations of the whole message are collected. */
  readonly found: FieldViolation[];
}

/**
 * Throws InvalidArgumentError naming every field that breaks a rule (the first
 * rule each value breaks), as `${prefix}.first_name`, `${prefix}.profile.tags[2]`,
 * `${prefix}.profile.attributes["k"]`, in field order.
 * Output-only fields are not checked: the server overwrites them.
 */
export function validateCustomer(customer: Customer, prefix = "customer"): void {
  const found: FieldViolation[] = [];
  validateMessage(reflect(CustomerSchema, customer), { rule: "", path: prefix, found });
  throwIfAny(found);
}

function throwIfAny([first, ...more]: readonly FieldViolation[]): void {
  if (first !== undefined) throw InvalidArgumentError.of([first, ...more]);
}

function validateMessage(message: ReflectMessage, at: Location): void {
  for (const field of message.fields) {
    const rule = at.rule === "" ? field.name : `${at.rule}.${field.name}`;
    if (OUTPUT_ONLY_FIELDS.has(rule)) {
      continue;
    }
    validateField(message, field, { rule, path: `${at.path}.${field.name}`, found: at.found });
  }
}

function validateField(message: ReflectMessage, field: DescField, at: Location): void {
  const rule = RULES[at.rule] ?? NO_RULE;
  if (!message.isSet(field)) {
    if (rule.required) {
      fail(at, "is required");
    }
    return;
  }
  const value = message.get(field);
  if (isReflectList(value)) {
    validateList(value, field, rule, at);
  } else if (isReflectMap(value)) {
    validateMap(value, field, rule, at);
  } else {
    validateValue(value, field.enum, rule, at);
  }
}

function validateList(list: ReflectList, field: DescField, rule: FieldRule, at: Location): void {
  if (!checkCount(list.size, "items", rule, at)) return;
  for (const [index, item] of list.entries()) {
    validateValue(item, field.enum, rule.items ?? NO_RULE, { ...at, path: `${at.path}[${index}]` });
  }
}

function validateMap(map: ReflectMap, field: DescField, rule: FieldRule, at: Location): void {
  if (!checkCount(map.size, "entries", rule, at)) return;
  for (const [key, value] of map) {
    const entry = { ...at, path: `${at.path}[${quoteClientValue(String(key))}]` };
    validateValue(key, undefined, rule.keys ?? NO_RULE, { ...entry, subject: "key" });
    validateValue(value, field.enum, rule.items ?? NO_RULE, entry);
  }
}

function validateValue(value: unknown, enumType: DescEnum | undefined, rule: FieldRule, at: Location): void {
  if (typeof value === "string") {
    validateText(value, rule, at);
  } else if (typeof value === "number" && enumType !== undefined) {
    validateEnum(value, enumType, rule, at);
  } else if (typeof value === "number" || typeof value === "bigint") {
    validateInteger(value, rule, at);
  } else if (isReflectMessage(value)) {
    validateNestedMessage(value, at);
  }
}

function validateText(text: string, rule: FieldRule, at: Location): void {
  const problem = textProblem(text, rule);
  if (problem !== undefined) fail(at, problem);
}

/** The first rule `text` breaks, if any. */
function textProblem(text: string, rule: FieldRule): string | undefined {
  if (rule.required && BLANK.test(text)) {
    return "must not be blank";
  }
  if ((rule.multiline ? CONTROL_CHARACTER_OTHER_THAN_WHITESPACE : CONTROL_CHARACTER).test(text)) {
    return "must not contain control characters";
  }
  if (rule.maxChars !== undefined && exceeds(text, rule.maxChars)) {
    return `must be at most ${rule.maxChars} characters, got ${countCharacters(text)}`;
  }
  if (rule.email && !EMAIL_ADDRESS.test(text)) {
    return "must be a valid email address";
  }
  // One spelling per address, so that uniqueness compares like with like: é
  // as one character, not e + an accent, and no look-alike compatibility
  // characters (the Kelvin sign for K, ſ for s, ﬁ for fi).
  if (rule.email && text.normalize("NFKC") !== text) {
    return "must be in Unicode normalization form NFKC (accents precomposed, no compatibility characters)";
  }
  return undefined;
}

/** Checks text outside a Customer against a rule of FIELD_LIMITS (an invoice's billing address). */
export function validateTextField(text: string, rule: FieldRule, path: string): void {
  const found: FieldViolation[] = [];
  validateText(text, rule, { rule: path, path, found });
  throwIfAny(found);
}

/**
 * A text filter, refused when longer than the field it searches can hold: it
 * could match nothing, and refusing it bounds the query built from it.
 */
export function filterText(text: string | undefined, maxChars: number, field: string): string | undefined {
  if (text !== undefined && exceeds(text, maxChars)) {
    throw new InvalidArgumentError(field, `must be at most ${maxChars} characters, got ${countCharacters(text)}`);
  }
  return text;
}

/** Unicode code points, as a client counts characters: "Gonçalves" is 9, an emoji is 1. */
function countCharacters(text: string): number {
  return [...text].length;
}

/** A string has at most as many code points as UTF-16 units: only a long one needs counting. */
function exceeds(text: string, maxChars: number): boolean {
  return text.length > maxChars && countCharacters(text) > maxChars;
}

function validateEnum(value: number, enumType: DescEnum, rule: FieldRule, at: Location): void {
  if (enumType.value[value] === undefined) {
    fail(at, `unknown ${enumType.name} value ${value}`);
  } else if (rule.forbidden?.value === value) {
    fail(at, rule.forbidden.reason);
  }
}

function validateInteger(value: number | bigint, rule: FieldRule, at: Location): void {
  if (rule.positive && value <= 0) {
    fail(at, "must be greater than 0");
  }
}

function validateNestedMessage(message: ReflectMessage, at: Location): void {
  if (isMessage(message.message, TimestampSchema)) {
    validateTimestamp(message.message, at);
  } else {
    validateMessage(message, at);
  }
}

// Profiles are stored as proto3 JSON, which cannot write a timestamp outside that range.
function validateTimestamp(timestamp: Timestamp, at: Location): void {
  if (!isValidTimestamp(timestamp)) fail(at, TIMESTAMP_RANGE);
}

/** Whether the count is within the rule; past it, the items are not worth checking one by one. */
function checkCount(count: number, noun: string, rule: FieldRule, at: Location): boolean {
  if (rule.maxItems !== undefined && count > rule.maxItems) {
    fail(at, `must have at most ${rule.maxItems} ${noun}, got ${count}`);
    return false;
  }
  return true;
}

function fail(at: Location, reason: string): void {
  at.found.push({ field: at.path, description: at.subject === undefined ? reason : `${at.subject} ${reason}` });
}
