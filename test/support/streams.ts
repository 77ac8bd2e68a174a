/** Every item of a stream, once it has ended; rejects as the stream fails. */
export async function readAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const received: T[] = [];
  for await (const item of stream) received.push(item);
  return received;
}
