/**
 * Why small byte arrays are cut from slabs (lib/protocol/allocate_bytes.ts): in Deno a
 * new typed array costs about as much as encoding a whole chat event, whatever its size.
 */
import { allocateBytes } from "../../protocol/allocate_bytes.ts";

/** About the size of an encoded chat event with a 32-byte message. */
const BYTES = 70;

Deno.bench(
  "allocation - new Uint8Array of 70 bytes",
  { group: "allocation", baseline: true },
  () => {
    new Uint8Array(BYTES)[0] = 1;
  },
);

Deno.bench(
  "allocation - allocateBytes(70), a view into a shared slab",
  { group: "allocation" },
  () => {
    allocateBytes(BYTES)[0] = 1;
  },
);
