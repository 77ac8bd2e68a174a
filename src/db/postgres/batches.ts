import DataLoader from "dataloader";

/**
 * A DataLoader whose batches go to the server one at a time: calls made while
 * a batch is in flight gather into the next, sent when that one returns. At
 * load, a batch holds the calls of one round trip, and each call waits for a
 * statement sent after it was made, so it reads every write acknowledged
 * before. Nothing is cached between calls. (DataLoader's own schedule sends
 * what one turn of the event loop gathers, and requests seldom arrive in the
 * same turn: its batches stayed at one or two.)
 */
export function oneBatchAtATime<K, V>(load: (keys: readonly K[]) => Promise<ReadonlyArray<V | Error>>, maxBatchSize: number): DataLoader<K, V> {
  let inFlight: Promise<unknown> = Promise.resolve();
  return new DataLoader<K, V>(
    (keys) => {
      const answers = load(keys);
      inFlight = answers.catch(() => undefined);
      return answers;
    },
    {
      cache: false,
      maxBatchSize,
      batchScheduleFn: (send) => {
        void inFlight.then(send);
      },
    },
  );
}
