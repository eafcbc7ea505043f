/**
 * `deno task compile`: standalone server and client executables in dist/ for
 * Windows, Linux and macOS, each with only the permissions it needs. deno compile
 * downloads its runtime (denort) for every target, so this needs a machine that
 * can reach dl.deno.land.
 */
const TARGETS = [
  { target: "x86_64-pc-windows-msvc", suffix: ".exe" },
  { target: "x86_64-unknown-linux-gnu", suffix: "-linux-x64" },
  { target: "aarch64-unknown-linux-gnu", suffix: "-linux-arm64" },
  { target: "x86_64-apple-darwin", suffix: "-macos-x64" },
  { target: "aarch64-apple-darwin", suffix: "-macos-arm64" },
];

const PROGRAMS = [
  // Listening and accepting is all the server does.
  { name: "server", entry: "server.ts", permissions: ["--allow-net"] },
  // The client only connects.
  { name: "client", entry: "client.ts", permissions: ["--allow-net"] },
];

const only = Deno.args[0];
for (const { target, suffix } of TARGETS) {
  if (only !== undefined && only !== target) continue;
  for (const { name, entry, permissions } of PROGRAMS) {
    const output = `dist/${name}${suffix}`;
    const args = [
      "compile",
      ...permissions,
      "--no-prompt",
      // Embed only the npm packages the program imports, not buf or fast-check.
      "--exclude-unused-npm",
      "--target",
      target,
      "--output",
      output,
      entry,
    ];
    console.log(`deno ${args.join(" ")}`);
    const { success } = await new Deno.Command(Deno.execPath(), { args }).spawn().status;
    if (!success) Deno.exit(1);
  }
}
