import type { ServiceError } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../../src/errors";

/** The InvalidArgumentError that `action` throws; fails the test if it throws nothing or something else. */
export function thrownBy(action: () => unknown): InvalidArgumentError {
  try {
    action();
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error("expected an InvalidArgumentError, but nothing was thrown");
}

/** The error a gRPC call fails with; fails the test if the call succeeds. */
export async function failureOf(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
