/**
 * `deno task bundle`: each program as one JavaScript file with its npm packages
 * inlined, in dist/bundle/. This is what `deno task compile` embeds, and what the
 * Windows tests run on deno.exe.
 */
import { bundlePath, PROGRAMS } from "./programs.ts";

for (const program of PROGRAMS) {
  const args = [
    "bundle",
    "--platform",
    "deno",
    "--minify",
    "--output",
    bundlePath(program),
    program.entry,
  ];
  console.log(`deno ${args.join(" ")}`);
  const { success } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
  if (!success) Deno.exit(1);
}
