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
