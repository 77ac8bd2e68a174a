/**
 * What a process can tell, when it asks, of commits by others to the database
 * since it last asked: none, some (so whatever it kept may be stale), or
 * nothing at all now ("unknown": the database did not answer).
 */
export type OtherWrites = "none" | "some" | "unknown";
