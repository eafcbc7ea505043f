/** `deno task gen`: lints proto/ and regenerates the TypeScript in gen/. */
import { BUF } from "./buf.ts";

for (const command of ["lint", "generate"]) {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BUF, command],
  }).spawn().status;
  if (!success) Deno.exit(1);
}
