import { randomBytes } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { CustomerService } from "../gen/chinook/v1/customer_service_pb";
import { InvoiceService } from "../gen/chinook/v1/invoice_service_pb";
import type { DatasetFacts } from "./facts";
import type { Random } from "./random";
import type { RawClient } from "./raw-client";
import { syntheticCustomer } from "./synthetic-customers";

export const UNARY_WORKLOADS = [
  "GetCustomer",
  "ListCustomers",
  "CreateCustomer",
  "UpdateCustomer",
  "CreateInvoice",
] as const;
export const STREAMING_WORKLOADS = ["ExportCustomers"] as const;
export const WORKLOADS = [...UNARY_WORKLOADS, ...STREAMING_WORKLOADS] as const;

export type UnaryWorkload = (typeof UNARY_WORKLOADS)[number];
export type StreamingWorkload = (typeof STREAMING_WORKLOADS)[number];
export type Workload = (typeof WORKLOADS)[number];

/** One request of the workload, built fresh each time (random ids, unique emails). */
export type UnaryCall = (options: grpc.CallOptions) => Promise<unknown>;
export type StreamingCall = () => grpc.ClientReadableStream<Buffer>;

const { getCustomer, listCustomers, createCustomer, updateCustomer, exportCustomers } = CustomerService.method;
const { createInvoice } = InvoiceService.method;

const PAGE_SIZE = 50;
const UPDATED_CITIES = ["Lisbon", "Oslo", "Toronto", "São Paulo", "Berlin", "Chicago"];
const UPDATED_TAGS = ["bench", "vinyl-collector", "newsletter", "vip", "returning"];
const MAX_INVOICE_LINES = 5;
const MAX_QUANTITY = 3;

export function isWorkload(name: string): name is Workload {
  return WORKLOADS.some((workload) => workload === name);
}

export function isStreaming(workload: Workload): workload is StreamingWorkload {
  return STREAMING_WORKLOADS.some((streaming) => streaming === workload);
}

export function unaryCall(workload: UnaryWorkload, client: RawClient, facts: DatasetFacts, random: Random): UnaryCall {
  switch (workload) {
    case "GetCustomer":
      return (options) => client.unary(getCustomer, { customerId: anyCustomerId(facts, random) }, options);
    case "ListCustomers":
      return (options) => client.unary(listCustomers, filteredPage(facts, random), options);
    case "CreateCustomer":
      return createCustomerCall(client, random);
    case "UpdateCustomer":
      return (options) => client.unary(updateCustomer, maskedUpdate(facts, random), options);
    case "CreateInvoice":
      return (options) => client.unary(createInvoice, invoiceRequest(facts, random), options);
  }
}

export function streamingCall(workload: StreamingWorkload, client: RawClient): StreamingCall {
  switch (workload) {
    case "ExportCustomers":
      return () => client.serverStream(exportCustomers, {});
  }
}

function anyCustomerId(facts: DatasetFacts, random: Random): bigint {
  return BigInt(random.integer(facts.minCustomerId, facts.maxCustomerId));
}

function filteredPage(facts: DatasetFacts, random: Random) {
  const { country, loyaltyTier } = random.pick(facts.listFilters);
  return { pageSize: PAGE_SIZE, country, loyaltyTier };
}

/** Emails unique across processes and runs: a random prefix per process, a counter per call. */
function createCustomerCall(client: RawClient, random: Random): UnaryCall {
  const prefix = randomBytes(4).toString("hex");
  let counter = 0;
  return (options) => {
    counter++;
    const { customer } = syntheticCustomer(random, counter);
    return client.unary(
      createCustomer,
      { customer: { ...customer, email: `bench-${prefix}-${counter}@example.com` } },
      options,
    );
  };
}

function maskedUpdate(facts: DatasetFacts, random: Random) {
  return {
    customer: {
      customerId: anyCustomerId(facts, random),
      city: random.pick(UPDATED_CITIES),
      profile: { tags: random.sample(UPDATED_TAGS, random.integer(1, 3)) },
    },
    updateMask: { paths: ["city", "profile.tags"] },
  };
}

function invoiceRequest(facts: DatasetFacts, random: Random) {
  const lines = Array.from({ length: random.integer(1, MAX_INVOICE_LINES) }, () => ({
    trackId: BigInt(random.integer(facts.minTrackId, facts.maxTrackId)),
    quantity: random.integer(1, MAX_QUANTITY),
  }));
  return { customerId: BigInt(random.pick(facts.activeCustomerIds)), lines };
}
