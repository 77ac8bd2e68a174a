import * as grpc from "@grpc/grpc-js";
import type { CustomerService } from "../../gen/chinook/v1/customer_service_pb";
import type { ServiceHandlers } from "../../src/grpc/adapter";

/** Binds `server` to a free port on 127.0.0.1, plaintext; resolves with the port. */
export function bindEphemeral(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    );
  });
}

function notUsedHere(): never {
  throw new Error("not used in this test");
}

/** A CustomerService whose every method fails if called: a fake spreads it and overrides what its test uses. */
export function unusedCustomerHandlers(): ServiceHandlers<typeof CustomerService> {
  return {
    getCustomer: async () => notUsedHere(),
    listCustomers: async () => notUsedHere(),
    createCustomer: async () => notUsedHere(),
    updateCustomer: async () => notUsedHere(),
    deleteCustomer: async () => notUsedHere(),
    undeleteCustomer: async () => notUsedHere(),
    batchGetCustomers: async () => notUsedHere(),
    batchCreateCustomers: async () => notUsedHere(),
    exportCustomers: () => notUsedHere(),
  };
}
