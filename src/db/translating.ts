/** A wrapper that runs a database call and throws what `translate` makes of a failure (a driver's error → a domain error). */
export function translating(translate: (error: unknown) => unknown): <T>(work: () => Promise<T>) => Promise<T> {
  return async (work) => {
    try {
      return await work();
    } catch (error) {
      throw translate(error);
    }
  };
}
