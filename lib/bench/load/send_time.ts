/**
 * The send time every bench message carries at the start of its content: milliseconds
 * since the Unix epoch with three decimals ("1764121515551.123"), as ASCII so chat
 * content stays valid UTF-8. `performance.timeOrigin + performance.now()` is comparable
 * across processes on one machine, so a receiver in another worker can subtract it.
 * Written and read digit by digit: no string is made per message.
 */
export const SEND_TIME_BYTES = 17;

const DIGIT_0 = 0x30;
const DOT = 0x2e;

/** Now, in ms since the epoch, with sub-millisecond precision. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Writes `ms` as 13 digits, a dot and 3 digits at `offset`. */
export function writeSendTime(buffer: Uint8Array, offset: number, ms: number): void {
  // An integer below 2^53, so the divisions below are exact.
  let micros = Math.round(ms * 1000);
  for (let i = SEND_TIME_BYTES - 1; i >= 0; i--) {
    if (i === SEND_TIME_BYTES - 4) {
      buffer[offset + i] = DOT;
      continue;
    }
    const quotient = Math.floor(micros / 10);
    buffer[offset + i] = DIGIT_0 + micros - quotient * 10;
    micros = quotient;
  }
}

/** Reads what writeSendTime wrote; NaN if the bytes are not a send time. */
export function readSendTime(buffer: Uint8Array, offset: number, end: number): number {
  if (end - offset < SEND_TIME_BYTES || buffer[offset + 13] !== DOT) return NaN;
  // In pieces that stay small integers: one 17-digit number would be a double all along,
  // about three times slower, and this runs for every delivery the tool counts.
  const millionsOfMs = readDigits(buffer, offset, offset + 7);
  const ms = readDigits(buffer, offset + 7, offset + 13);
  const micros = readDigits(buffer, offset + 14, offset + 17);
  if ((millionsOfMs | ms | micros) < 0) return NaN;
  return (millionsOfMs * 1e9 + ms * 1e3 + micros) / 1000;
}

/** The decimal number in `buffer[start..end)`, or -1 if a byte is not a digit. */
function readDigits(buffer: Uint8Array, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = buffer[i] - DIGIT_0;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}
