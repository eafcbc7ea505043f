/**
 * Protobuf base-128 varints, for the hand-written codec fast paths. Values up to
 * 2^53 - 1 take the number path; larger uint64 values the bigint one.
 */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export const varint = {
  /**
   * What the i-th byte's 7 bits are worth, 128^i: a lookup, because `2 ** n` is a call
   * to pow() on the hot path and shifts wrap past 31 bits.
   */
  weight: [1, 2 ** 7, 2 ** 14, 2 ** 21, 2 ** 28, 2 ** 35, 2 ** 42, 2 ** 49] as const,

  /** How many bytes `write` takes for `value` (0 to 2^53 - 1). */
  size(value: number): number {
    let size = 1;
    while (value >= 0x80) {
      value = Math.floor(value / 0x80);
      size++;
    }
    return size;
  },

  /** Writes `value` (0 to 2^64 - 1) at `offset`; returns the offset after it. */
  write(buffer: Uint8Array, offset: number, value: bigint | number): number {
    if (typeof value === "number" || value <= MAX_SAFE) {
      let n = Number(value);
      // Shifts while the value fits 32 bits; division above, where shifts would wrap.
      while (n > 0xffffffff) {
        buffer[offset++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
      while (n >= 0x80) {
        buffer[offset++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      buffer[offset++] = n;
      return offset;
    }
    let big = value;
    while (big >= 0x80n) {
      buffer[offset++] = Number(big & 0x7fn) | 0x80;
      big >>= 7n;
    }
    buffer[offset++] = Number(big);
    return offset;
  },

  /**
   * Reads a varint of at most 5 bytes (a tag, a length, an enum): [value, offset after it],
   * or undefined when it runs past the end or is longer. Values past 2^32 - 1 are refused too.
   */
  read32(buffer: Uint8Array, offset: number): [number, number] | undefined {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      if (offset >= buffer.length) return undefined;
      const byte = buffer[offset++];
      value += (byte & 0x7f) * varint.weight[i];
      if (byte < 0x80) return value <= 0xffffffff ? [value, offset] : undefined;
    }
    return undefined;
  },

  /** Reads a uint64 varint: [value, offset after it], or undefined as read32 does. */
  readUint64(buffer: Uint8Array, offset: number): [bigint, number] | undefined {
    // The first 7 bytes (49 bits) add up exactly in a number; only longer ones need bigints.
    let low = 0;
    for (let i = 0; i < 7; i++) {
      if (offset >= buffer.length) return undefined;
      const byte = buffer[offset++];
      low += (byte & 0x7f) * varint.weight[i];
      if (byte < 0x80) return [BigInt(low), offset];
    }
    let value = BigInt(low);
    for (let i = 7; i < 10; i++) {
      if (offset >= buffer.length) return undefined;
      const byte = buffer[offset++];
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) return [value & 0xffffffffffffffffn, offset];
    }
    return undefined;
  },
};
