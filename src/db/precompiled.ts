import type { CompiledQuery } from "kysely";

/** The same query with other values for its parameters, in the order it was compiled with. */
export function withParameters<R>(query: CompiledQuery<R>, parameters: readonly unknown[]): CompiledQuery<R> {
  if (parameters.length !== query.parameters.length) {
    throw new Error(`the query takes ${query.parameters.length} parameters, not ${parameters.length}`);
  }
  return { ...query, parameters };
}
