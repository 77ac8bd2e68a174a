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
      throw new InvalidArgumentError("request_id", "was already used for a different request", {
        reason: "REQUEST_ID_REUSED",
      });
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
 * For engines whose transactions run side by side (PostgreSQL): a create
 * claims its request_id before it writes anything else, so that of two
 * concurrent requests with one id the second waits on the claim's primary
 * key, fails as a duplicate, and runs again to find the first one's answer,
 * rather than failing on whatever else the first one wrote (a live email).
 */
export class ClaimedRequestIds {
  constructor(private readonly db: Executor) {}

  /** As RequestIds.find; when there is no earlier request, claims the id for this one. */
  async findOrClaim(operation: string, requestId: string, request: Uint8Array): Promise<RecordedRequest | undefined> {
    const requestIds = new RequestIds(this.db);
    const earlier = await requestIds.find(operation, requestId, request);
    if (earlier === undefined) await requestIds.record(operation, requestId, request, UNCLAIMED_RESOURCE);
    return earlier;
  }

  /** Completes a claim with what the request created. */
  async complete(operation: string, requestId: string, resourceId: bigint, response?: Uint8Array): Promise<void> {
    await this.db
      .updateTable("request_ids")
      .set({ resource_id: resourceId, response })
      .where("operation", "=", operation)
      .where("request_id", "=", requestId)
      .execute();
  }
}

/** A claim's resource until it is completed, in the same transaction: ids are positive. */
const UNCLAIMED_RESOURCE = 0n;

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
