/**
 * A client's text in what the server says back. A status message repeating a
 * client's value whole is as large as the request, and grpc-js clients refuse
 * a status that large: the call, and every other call on its channel, stalls
 * until its deadline. So a message quotes a client's value cut to a few dozen
 * characters, and no status message takes more than 1 KiB.
 */

/** How many characters (code points) of a client's value a message repeats. */
export const MAX_ECHOED_CHARACTERS = 48;
/** The most a status message takes, in UTF-8 bytes. */
export const MAX_STATUS_MESSAGE_BYTES = 1024;

const CUT_MARK = "…";
const CUT_MARK_BYTES = Buffer.byteLength(CUT_MARK);
/** A UTF-16 unit never takes more than 3 bytes in UTF-8 (a surrogate pair takes 4 for 2). */
const MAX_UTF8_BYTES_PER_UNIT = 3;

/**
 * `value` in double quotes, JSON-escaped; one longer than MAX_ECHOED_CHARACTERS
 * is cut and says so: `"abc…" (1048576 characters)`.
 */
export function quoteClientValue(value: string): string {
  const kept = leadingCodePoints(value, MAX_ECHOED_CHARACTERS);
  if (kept.length === value.length) return JSON.stringify(value);
  return `${JSON.stringify(kept + CUT_MARK)} (${countCodePoints(value)} characters)`;
}

/** `text`, or its first `maxCharacters` code points and a cut mark. */
export function cutText(text: string, maxCharacters: number): string {
  const kept = leadingCodePoints(text, maxCharacters);
  return kept.length === text.length ? text : kept + CUT_MARK;
}

/** `message`, or as much of its start as fits MAX_STATUS_MESSAGE_BYTES with a cut mark. */
export function boundedMessage(message: string): string {
  if (message.length * MAX_UTF8_BYTES_PER_UNIT <= MAX_STATUS_MESSAGE_BYTES) return message;
  if (Buffer.byteLength(message) <= MAX_STATUS_MESSAGE_BYTES) return message;
  return leadingUtf8Bytes(message, MAX_STATUS_MESSAGE_BYTES - CUT_MARK_BYTES) + CUT_MARK;
}

/** The first `count` code points of `text`, never half a surrogate pair. */
function leadingCodePoints(text: string, count: number): string {
  let end = 0;
  for (let kept = 0; kept < count && end < text.length; kept += 1) end += unitsAt(text, end);
  return text.slice(0, end);
}

/** The longest start of `text` that takes at most `maxBytes` in UTF-8, never half a surrogate pair. */
function leadingUtf8Bytes(text: string, maxBytes: number): string {
  let end = 0;
  let bytes = 0;
  while (end < text.length) {
    const codePoint = text.codePointAt(end) ?? 0;
    bytes += utf8Bytes(codePoint);
    if (bytes > maxBytes) break;
    end += unitsAt(text, end);
  }
  return text.slice(0, end);
}

function countCodePoints(text: string): number {
  let count = 0;
  for (let index = 0; index < text.length; index += unitsAt(text, index)) count += 1;
  return count;
}

/** 2 where a surrogate pair starts at `index`, else 1 (a lone surrogate counts alone). */
function unitsAt(text: string, index: number): number {
  return (text.codePointAt(index) ?? 0) > 0xffff ? 2 : 1;
}

/** A lone surrogate is written as U+FFFD, 3 bytes. */
function utf8Bytes(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  return codePoint < 0x10000 ? 3 : 4;
}
