import { createHash } from "node:crypto";
import { InvalidArgumentError } from "../errors";
import type { Executor } from "./transactions";

/** What an earlier request with the same request_id created. */
export interface RecordedRequest {
  resourceId: bigint;
  /** Its answer, when it was recorded with one. */
  response: Uint8Array | undefined;
}

/**
 * Idempotency keys (AIP-155), shared by every create that takes a request_id.
 * Call `find` and `record` inside the same transaction as the create, so the
 * key and the resource commit or roll back together.
 */
export class RequestIds {
  constructor(private readonly db: Executor) {}

  withTx(tx: Executor): RequestIds {
    return new RequestIds(tx);
  }

  /**
   * What an earlier request with this id created, or undefined.
   * INVALID_ARGUMENT when the id was used for a different request.
   */
  async find(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined> {
    const row = await this.db
      .selectFrom("request_ids")
      .select(["request_hash", "resource_id", "response"])
      .where("operation", "=", operation)
      .where("request_id", "=", requestId)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    if (row.request_hash !== hashOf(request)) {
      throw new InvalidArgumentError("request_id", "was already used for a different request");
    }
    return { resourceId: row.resource_id, response: row.response ?? undefined };
  }

  /** `response`: the answer, for operations whose resource can change after it is created. */
  async record(
    operation: string,
    requestId: string,
    request: Uint8Array,
    resourceId: bigint,
    response?: Uint8Array,
  ): Promise<void> {
    await this.db
      .insertInto("request_ids")
      .values({
        operation,
        request_id: requestId,
        request_hash: hashOf(request),
        resource_id: resourceId,
        created_at: new Date().toISOString(),
        response,
      })
      .execute();
  }
}

/**
 * Forgets up to `limit` keys recorded before `before`, oldest first, and says
 * how many: a retry after that creates anew (AIP-155 keeps keys for a while,
 * not for ever).
 */
export async function expireRequestIds(db: Executor, before: Date, limit: number): Promise<number> {
  const oldest = db
    .selectFrom("request_ids")
    .select(["operation", "request_id"])
    .where("created_at", "<", before.toISOString())
    .orderBy("created_at")
    .limit(limit);
  const { numDeletedRows } = await db
    .deleteFrom("request_ids")
    .where(({ eb, refTuple }) => eb(refTuple("operation", "request_id"), "in", oldest.$asTuple("operation", "request_id")))
    .executeTakeFirst();
  return Number(numDeletedRows);
}

function hashOf(request: Uint8Array): string {
  return createHash("sha256").update(request).digest("base64url");
}
