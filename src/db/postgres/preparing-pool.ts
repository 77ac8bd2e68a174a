import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type pg from "pg";
import { preparedName } from "./precompiled";

/**
 * Statements that only set up the transaction they open or run in (BEGIN,
 * START TRANSACTION, SET LOCAL) and answer nothing but success. Parameterless.
 */
const SETS_UP_TRANSACTION = /^\s*(begin|start\s+transaction|set\s+local)\b/i;

const NO_ROWS: PostgresQueryResult<never> = { command: "SELECT", rowCount: 0, rows: [] };

/**
 * pg's pool as Kysely's PostgresDialect takes it, sending the statements
 * prepared() registered as named prepared statements (pg prepares each once
 * per connection); every other statement goes as Kysely would send it.
 *
 * On a pool in pipeline mode (pg's `pipeline: true`), a statement that only
 * sets up a transaction is answered at once and sent ahead of the next
 * statement, in the same round trip and the same write to the socket (it is
 * corked until then): BEGIN costs no round trip and no system call of its own.
 * Its failure is the next statement's, so no work runs as if it had
 * succeeded; COMMIT is such a next statement, as PostgreSQL would otherwise
 * answer a COMMIT of a failed transaction with a silent ROLLBACK.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  // One wrapper per connection, kept: Kysely keeps its own per client it is handed, so a new wrapper
  // per checkout would also cost a new Kysely connection on every statement.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    connect: async () => {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        wrapper = preparingClient(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}

function preparingClient(client: pg.PoolClient): PostgresPoolClient {
  // A pooled client is pg's Client, whose connection writes to this socket.
  const socket = (client as pg.PoolClient & Pick<pg.Client, "connection">).connection.stream;
  let sentAhead: Array<Promise<unknown>> = [];

  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query<R>(
    statement: string | PostgresCursor<R>,
    parameters: ReadonlyArray<unknown> = [],
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    if (typeof statement !== "string") {
      // Kysely asks for one only when the dialect has a cursor; a pipelined pg connection refuses them.
      throw new Error("cursors are not supported on the service's pipelined pool: read keyset pages (runs.ts)");
    }
    const config = { name: preparedName(statement), text: statement, values: [...parameters] };
    if (client.pipeline && parameters.length === 0 && SETS_UP_TRANSACTION.test(statement)) {
      if (sentAhead.length === 0) socket.cork();
      const answer = run(client, config);
      // Marked as handled now; the next statement reports the failure.
      answer.catch(() => undefined);
      sentAhead.push(answer);
      return Promise.resolve(NO_ROWS);
    }
    const answer = run<R>(client, config);
    const ahead = sentAhead;
    if (ahead.length === 0) return answer;
    sentAhead = [];
    socket.uncork();
    return afterAll(ahead, answer);
  }

  const release = () => {
    if (sentAhead.length === 0) return client.release();
    // Answers never read leave the session in a state nobody knows: the connection goes.
    socket.uncork();
    client.release(new Error("statements sent ahead were never followed"));
  };
  return { query, release };
}

/** `answer`, or the first failure of the statements sent ahead of it. */
async function afterAll<R>(ahead: ReadonlyArray<Promise<unknown>>, answer: Promise<R>): Promise<R> {
  const failed = (await Promise.allSettled([...ahead, answer])).find(isRejected);
  if (failed !== undefined) throw failed.reason;
  return answer;
}

function isRejected(outcome: PromiseSettledResult<unknown>): outcome is PromiseRejectedResult {
  return outcome.status === "rejected";
}

async function run<R>(client: pg.PoolClient, config: pg.QueryConfig): Promise<PostgresQueryResult<R>> {
  const result = await client.query(config);
  return { command: result.command as PostgresQueryResult<R>["command"], rowCount: result.rowCount ?? 0, rows: result.rows as R[] };
}
