/** One WebSocket frame as a client writes it (RFC 6455 section 5.2), or as a broken client might. */
export interface ClientFrameInit {
  opcode: number;
  payload?: ArrayLike<number>;
  /** FIN: the last frame of its message. Default true. */
  final?: boolean;
  /** RSV1 to RSV3 as a 3-bit number; a server that negotiated no extension refuses any. */
  reserved?: number;
  /** The masking key; null sends the frame unmasked, which a server must refuse. Default random. */
  mask?: Uint8Array | null;
  /** The length the header announces, when it is not the payload's (a lie, or bytes to come). */
  announcedLength?: bigint;
  /** The length field's size: 7, 16 or 64 bits. Default the shortest, as the RFC requires. */
  lengthBits?: 7 | 16 | 64;
}

/** The frame's bytes: header, masking key, and the payload masked with it. */
export function encodeClientFrame(init: ClientFrameInit): Uint8Array {
  const payload = Uint8Array.from(init.payload ?? []);
  const length = init.announcedLength ?? BigInt(payload.length);
  const mask = init.mask === undefined ? crypto.getRandomValues(new Uint8Array(4)) : init.mask;
  const bits = init.lengthBits ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const header = [
    ((init.final ?? true) ? 0x80 : 0) | ((init.reserved ?? 0) & 7) << 4 | (init.opcode & 0x0f),
  ];
  const maskBit = mask === null ? 0 : 0x80;
  if (bits === 7) header.push(maskBit | Number(length & 0x7fn));
  else if (bits === 16) {
    header.push(maskBit | 126, Number((length >> 8n) & 0xffn), Number(length & 0xffn));
  } else {
    header.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) header.push(Number((length >> shift) & 0xffn));
  }
  if (mask !== null) header.push(...mask);
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  for (let i = 0; i < payload.length; i++) {
    out[header.length + i] = mask === null ? payload[i] : payload[i] ^ mask[i & 3];
  }
  return out;
}
