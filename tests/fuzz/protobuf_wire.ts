/** Protobuf's wire format, written by hand so that anything can be written, broken included. */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_SGROUP = 3;
export const WIRE_EGROUP = 4;
export const WIRE_I32 = 5;

/** Unsigned LEB128; negative numbers as 64-bit two's complement, as protobuf does. */
export function varint(value: bigint | number): number[] {
  let rest = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
  return out;
}

/** `value` as a varint of exactly `size` bytes (zero padding with continuation bits). */
export function paddedVarint(value: number, size: number): number[] {
  const out = varint(value);
  while (out.length < size) {
    out[out.length - 1] |= 0x80;
    out.push(0);
  }
  return out;
}

export function tag(field: number, wire: number): number[] {
  return varint(BigInt(field) * 8n + BigInt(wire));
}

export function varintField(field: number, value: bigint | number): number[] {
  return [...tag(field, WIRE_VARINT), ...varint(value)];
}

export function lenField(field: number, bytes: readonly number[]): number[] {
  return [...tag(field, WIRE_LEN), ...varint(bytes.length), ...bytes];
}

const encoder = new TextEncoder();
export const utf8 = (text: string): number[] => [...encoder.encode(text)];
export const utf8Length = (text: string): number => encoder.encode(text).length;

/** A ClientMessage holding Ping { nonce }. */
export function pingPayload(nonce: bigint): number[] {
  return lenField(3, varintField(1, nonce));
}
