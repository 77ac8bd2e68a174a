/**
 * How SQLite syncs the WAL (PRAGMA synchronous). FULL syncs it on every
 * commit, so a write acknowledged OK survives a power loss or an OS crash;
 * group commit makes that one sync per group of writes. NORMAL syncs only at
 * checkpoints: the database stays consistent, but the last commits before a
 * crash of the machine may be lost. EXTRA is FULL and more outside WAL mode.
 * OFF is not offered: it can corrupt the database on a power loss.
 */
export const SQLITE_SYNCHRONOUS_MODES = ["FULL", "NORMAL", "EXTRA"] as const;

export type SqliteSynchronous = (typeof SQLITE_SYNCHRONOUS_MODES)[number];

export const DEFAULT_SQLITE_SYNCHRONOUS: SqliteSynchronous = "FULL";
