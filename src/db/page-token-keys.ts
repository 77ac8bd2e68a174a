/**
 * The keys page tokens are signed with, shared by every process on one
 * database: kept in it (page_token_keys), rotated by age, and each kept for
 * verification a while after a newer one replaced it. No SQL here: the
 * statements are PageTokenKeyTable's (page-token-key-table.ts).
 */
import type { Logger } from "../logger";
import { newPageTokenSecret, pageTokenSecret, type PageTokenKey, type PageTokenKeys } from "./paging";

/** A key as the database keeps it. */
export interface StoredPageTokenKey {
  id: number;
  secret: Uint8Array;
  createdAt: Date;
}

/** What the keys need of storage. */
export interface PageTokenKeyStore {
  /** Every key, by id. */
  list(): Promise<StoredPageTokenKey[]>;
  /**
   * Adds `key` unless one with its id exists already (another process made
   * it first), and deletes the keys numbered up to `retiredThrough`: both in
   * one transaction.
   */
  add(key: StoredPageTokenKey, retiredThrough: number | undefined): Promise<void>;
}

export interface PageTokenKeySettings {
  /** A key signs new tokens until it is this old; then a new one does. PAGE_TOKEN_KEY_ROTATION_MS. */
  rotationMs: number;
  /** Tokens signed with a key stay valid this long after a newer key replaced it. PAGE_TOKEN_KEY_RETENTION_MS. */
  retentionMs: number;
}

export interface SharedPageTokenKeysOptions extends PageTokenKeySettings {
  logger: Logger;
  clock?: () => Date;
}

/** How often a process reads the keys again, to see keys other processes made and retired. */
export const KEY_REFRESH_MS = 60_000;
/** After a failed read, how soon a key due for rotation is tried again. */
const RETRY_MS = 1_000;
/** Tokens carry a key's id as a uint32. */
const MAX_KEY_ID = 2 ** 32 - 1;

/**
 * The database's keys, read at start-up (adding the first one when there is
 * none) and again every KEY_REFRESH_MS, when the current key is due for
 * rotation, or when a token names a key newer than any this process knows.
 * When the database cannot be read, the key read last keeps signing.
 */
export class SharedPageTokenKeys implements PageTokenKeys {
  private ring: KeyRing | undefined;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<KeyRing> | undefined;
  private readonly clock: () => Date;

  private constructor(
    private readonly store: PageTokenKeyStore,
    private readonly options: SharedPageTokenKeysOptions,
  ) {
    this.clock = options.clock ?? (() => new Date());
  }

  /** The keys as the database has them, with a current one: it fails when the database cannot give one. */
  static async open(store: PageTokenKeyStore, options: SharedPageTokenKeysOptions): Promise<SharedPageTokenKeys> {
    const keys = new SharedPageTokenKeys(store, options);
    await keys.refresh();
    return keys;
  }

  async signingKey(): Promise<PageTokenKey> {
    const ring = this.refreshDue() ? await this.refreshQuietly() : this.currentRing();
    return ring.current.key;
  }

  /**
   * Ids grow: a key newer than any this process knows is one another process
   * made since it last read them, read now. Failing to read it fails the call
   * (UNAVAILABLE) rather than calling the token invalid.
   */
  async verifyingKey(id: number): Promise<PageTokenKey | undefined> {
    const ring = id > this.currentRing().current.key.id ? await this.refresh() : this.currentRing();
    return ring.verifying(id, this.clock().getTime());
  }

  private refreshDue(): boolean {
    const now = this.clock().getTime();
    const sinceAttempt = now - this.attemptedAt;
    const rotationDue = this.currentRing().current.createdAt + this.options.rotationMs <= now;
    return sinceAttempt >= KEY_REFRESH_MS || (rotationDue && sinceAttempt >= RETRY_MS);
  }

  /** One read at a time: concurrent callers share it. */
  private refresh(): Promise<KeyRing> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshQuietly(): Promise<KeyRing> {
    try {
      return await this.refresh();
    } catch (error) {
      this.options.logger.warn({ err: error }, "could not read the page token keys; using those read before");
      return this.currentRing();
    }
  }

  private async read(): Promise<KeyRing> {
    const now = this.clock();
    this.attemptedAt = now.getTime();
    let stored = await this.store.list();
    if (rotationDue(stored, now.getTime(), this.options.rotationMs)) {
      await this.store.add(newKey(stored, now), retiredThrough(stored, now.getTime(), this.options.retentionMs));
      stored = await this.store.list();
    }
    this.ring = new KeyRing(stored, this.options.retentionMs);
    return this.ring;
  }

  private currentRing(): KeyRing {
    if (this.ring === undefined) throw new Error("SharedPageTokenKeys used before open() read the keys");
    return this.ring;
  }
}

interface RingKey {
  key: PageTokenKey;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** The keys read at one time, by id: the newest signs, and each older one verifies until retired. */
class KeyRing {
  private readonly keys: readonly RingKey[];

  constructor(stored: readonly StoredPageTokenKey[], private readonly retentionMs: number) {
    this.keys = [...stored]
      .sort((a, b) => a.id - b.id)
      .map(({ id, secret, createdAt }) => ({ key: { id, secret: pageTokenSecret(secret) }, createdAt: createdAt.getTime() }));
  }

  get current(): RingKey {
    const newest = this.keys.at(-1);
    if (newest === undefined) throw new Error("the database holds no page token key");
    return newest;
  }

  verifying(id: number, now: number): PageTokenKey | undefined {
    const index = this.keys.findIndex((entry) => entry.key.id === id);
    if (index === -1) return undefined;
    const successor = this.keys[index + 1];
    return successor === undefined || now < successor.createdAt + this.retentionMs ? this.keys[index]?.key : undefined;
  }
}

function rotationDue(stored: readonly StoredPageTokenKey[], now: number, rotationMs: number): boolean {
  const newest = newestOf(stored);
  return newest === undefined || newest.createdAt.getTime() + rotationMs <= now;
}

/** Numbered after the newest: two processes rotating at once make the same id, and the second one's insert does nothing. */
function newKey(stored: readonly StoredPageTokenKey[], now: Date): StoredPageTokenKey {
  const id = (newestOf(stored)?.id ?? 0) + 1;
  if (id > MAX_KEY_ID) throw new RangeError(`page token key ids are exhausted (${id})`);
  return { id, secret: newPageTokenSecret(), createdAt: now };
}

/** The newest id of the keys whose successor was made more than the retention ago; they verify nothing any more. */
function retiredThrough(stored: readonly StoredPageTokenKey[], now: number, retentionMs: number): number | undefined {
  const byId = [...stored].sort((a, b) => a.id - b.id);
  let retired: number | undefined;
  byId.forEach((key, index) => {
    const successor = byId[index + 1];
    if (successor !== undefined && successor.createdAt.getTime() + retentionMs <= now) retired = key.id;
  });
  return retired;
}

function newestOf(stored: readonly StoredPageTokenKey[]): StoredPageTokenKey | undefined {
  return stored.reduce<StoredPageTokenKey | undefined>((newest, key) => (newest === undefined || key.id > newest.id ? key : newest), undefined);
}
