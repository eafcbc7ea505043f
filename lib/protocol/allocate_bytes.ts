/**
 * Deno gives every new typed array memory of its own, at about half a microsecond
 * however small it is, while a view into an existing buffer costs a tenth of that
 * (`deno task bench:micro`). Small arrays are therefore cut from shared slabs. A slab
 * is never reused: the GC frees it once no view into it is left, so a view stays valid
 * for as long as it is held, at the price of keeping its whole slab alive. Whatever may
 * be kept long is therefore copied: a session's queue compacts the chunks waiting behind
 * a stalled write, and the backplanes copy the payloads they post or hold.
 */
const SLAB_BYTES = 8 * 1024;
/** Past this, an allocation is small beside the bytes it holds, and not worth a slab. */
const LARGEST_CUT = 1024;

let slab = new Uint8Array(SLAB_BYTES);
let used = 0;

/** A zeroed array of `length` bytes, usually a view into a shared slab. */
export function allocateBytes(length: number): Uint8Array {
  if (length > LARGEST_CUT) return new Uint8Array(length);
  if (used + length > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const bytes = slab.subarray(used, used + length);
  used += length;
  return bytes;
}
