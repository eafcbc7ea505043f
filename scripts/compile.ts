/**
 * `deno task compile [TARGET]`: standalone server and client executables in dist/
 * for Windows, Linux and macOS, compiled from the bundles in dist/bundle/ with
 * only the permissions each program needs. deno compile downloads its runtime
 * (denort) for every target, so this needs a machine that can reach dl.deno.land.
 */
import { bundlePath, PROGRAMS } from "./programs.ts";

const TARGETS = [
  { target: "x86_64-pc-windows-msvc", os: "windows", suffix: ".exe" },
  { target: "x86_64-unknown-linux-gnu", os: "linux", suffix: "-linux-x64" },
  { target: "aarch64-unknown-linux-gnu", os: "linux", suffix: "-linux-arm64" },
  { target: "x86_64-apple-darwin", os: "darwin", suffix: "-macos-x64" },
  { target: "aarch64-apple-darwin", os: "darwin", suffix: "-macos-arm64" },
] as const;

const only = Deno.args[0];
for (const { target, os, suffix } of TARGETS) {
  if (only !== undefined && only !== target) continue;
  for (const program of PROGRAMS) {
    const args = [
      "compile",
      ...program.permissions(os),
      "--no-prompt",
      // The bundle is plain JavaScript with its npm packages inlined: nothing else to embed.
      "--no-check",
      ...(os === "windows" ? ["--icon", "assets/chat.ico"] : []),
      "--target",
      target,
      "--output",
      `dist/${program.name}${suffix}`,
      bundlePath(program),
    ];
    console.log(`deno ${args.join(" ")}`);
    const { success } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    if (!success) Deno.exit(1);
  }
}
