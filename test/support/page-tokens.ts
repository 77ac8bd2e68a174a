/**
 * Page tokens taken apart as a client could (the format is src/db/paging.ts's):
 * base64url of a version byte, the signing key's id (uint32, big-endian), the
 * payload as JSON, and a 16-byte MAC. Without the key a client can change
 * anything but the MAC; these helpers make exactly such forgeries.
 */
import { createHmac } from "node:crypto";
import type { Executor } from "../../src/db/transactions";

const HEADER_BYTES = 5;
const MAC_BYTES = 16;

export type TokenPayload = Record<string, unknown>;

export function tokenBytes(token: string): Buffer {
  return Buffer.from(token, "base64url");
}

export function tokenOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/** The id of the key that signed `token`. */
export function keyIdOf(token: string): number {
  return tokenBytes(token).readUInt32BE(1);
}

export function payloadOf(token: string): TokenPayload {
  const bytes = tokenBytes(token);
  return JSON.parse(bytes.subarray(HEADER_BYTES, bytes.length - MAC_BYTES).toString("utf8")) as TokenPayload;
}

/** `token` with its payload changed and its header and MAC kept. */
export function withPayload(token: string, change: (payload: TokenPayload) => TokenPayload): string {
  const bytes = tokenBytes(token);
  const payload = Buffer.from(JSON.stringify(change(payloadOf(token))));
  return tokenOf(Buffer.concat([bytes.subarray(0, HEADER_BYTES), payload, bytes.subarray(bytes.length - MAC_BYTES)]));
}

/** `token` with the byte at `index` of its decoded bytes XORed with `mask`, encoded again. */
export function withByteChanged(token: string, index: number, mask: number): string {
  const bytes = tokenBytes(token);
  bytes.writeUInt8(bytes.readUInt8(index) ^ mask, index);
  return tokenOf(bytes);
}

/** A cursor id as the payload carries an int64. */
export function encodedId(id: bigint): { i: string } {
  return { i: id.toString() };
}

/** `token` with its payload changed and signed again with `secret`, the key its header names: what only the service can make. */
export function resignedWith(secret: Uint8Array, token: string, change: (payload: TokenPayload) => TokenPayload): string {
  const signed = Buffer.concat([tokenBytes(token).subarray(0, HEADER_BYTES), Buffer.from(JSON.stringify(change(payloadOf(token))))]);
  return tokenOf(Buffer.concat([signed, createHmac("sha256", secret).update(signed).digest().subarray(0, MAC_BYTES)]));
}

/** The secret of the key that signed `token`, read from the database the service keeps its keys in. */
export async function secretOf(db: Executor, token: string): Promise<Uint8Array> {
  const row = await db.selectFrom("page_token_keys").select("secret").where("id", "=", BigInt(keyIdOf(token))).executeTakeFirstOrThrow();
  return row.secret;
}

/**
 * Whether every token made by changing one byte of `token`'s decoded bytes
 * (each bit in turn, and all of them) is refused: the calls that were not
 * refused as `refusal`, described.
 */
export async function acceptedByteChanges(token: string, call: (pageToken: string) => Promise<unknown>, refusal: (error: unknown) => boolean): Promise<string[]> {
  const accepted: string[] = [];
  for (let index = 0; index < tokenBytes(token).length; index++) {
    for (const mask of BYTE_MASKS) {
      const changed = withByteChanged(token, index, mask);
      const outcome = await call(changed).then(
        () => "accepted",
        (error: unknown) => (refusal(error) ? undefined : `failed otherwise: ${String(error)}`),
      );
      if (outcome !== undefined) accepted.push(`byte ${index} ^ 0x${mask.toString(16)}: ${outcome}`);
    }
  }
  return accepted;
}

const BYTE_MASKS = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff];
