import type { Timestamp } from "@bufbuild/protobuf/wkt";

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;
const MAX_NANOS = 999_999_999;

/** Why a Timestamp outside that range is refused, for INVALID_ARGUMENT messages. */
export const TIMESTAMP_RANGE = "must be a valid timestamp between 0001-01-01 and 9999-12-31";

/** Within google.protobuf.Timestamp's range, which its JSON form and ISO 8601 text can write. */
export function isValidTimestamp({ seconds, nanos }: Timestamp): boolean {
  const inRange = seconds >= MIN_TIMESTAMP_SECONDS && seconds <= MAX_TIMESTAMP_SECONDS;
  return inRange && nanos >= 0 && nanos <= MAX_NANOS;
}
