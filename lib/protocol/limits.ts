/**
 * A 5-byte varint holds 35 bits, more than any frame length we accept. A longer
 * prefix is either an attack or garbage, so we stop reading it early.
 */
export const MAX_VARINT_PREFIX_BYTES = 5;

/** The default largest frame payload, in bytes. */
export const DEFAULT_MAX_FRAME_BYTES = 65536;

/** The default largest Chat.content, in UTF-8 bytes. */
export const DEFAULT_MAX_CONTENT_BYTES = 4096;

/**
 * The longest Hello.client, in UTF-8 bytes. It is kept for the whole session, for the log,
 * so without a bound an idle client could make the server hold a frame's worth of it.
 */
export const MAX_CLIENT_NAME_BYTES = 100;
