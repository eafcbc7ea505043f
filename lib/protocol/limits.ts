/**
 * A 5-byte varint holds 35 bits, more than any frame length we accept. A longer
 * prefix is either an attack or garbage, so we stop reading it early.
 */
export const MAX_VARINT_PREFIX_BYTES = 5;

/** The default largest frame payload, in bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 65536;

/** The default largest Chat.content, in UTF-8 bytes. */
export const DEFAULT_MAX_CONTENT_BYTES = 4096;
