/**
 * `deno task gen`: lints proto/, regenerates the TypeScript in gen/, then rebuilds the
 * browser page in gen/web/, which `buf generate` wipes along with the rest of gen/.
 */
import { BUF } from "./buf.ts";

const BUILD_WEB = new URL("build_web.ts", import.meta.url).pathname;

for (const args of [[BUF, "lint"], [BUF, "generate"], [BUILD_WEB]]) {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
  }).spawn().status;
  if (!success) Deno.exit(1);
}
