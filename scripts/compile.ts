/**
 * `deno task compile [--verbose] [TARGET...]`: standalone server and client executables
 * in dist/ for Windows, Linux and macOS (every target, or the ones named), compiled from
 * the bundles in dist/bundle/ with only the permissions each program needs. deno compile
 * downloads its runtime (denort) from dl.deno.land once per target, so this needs a
 * machine that can reach it; when it cannot, this says so in a line and points to the
 * bundles, which need no download. --verbose shows deno compile's own output as it runs.
 *
 * Exit codes: 0 built, 1 deno compile failed, 2 bad command line.
 */
import { bundlePath, PROGRAMS } from "./programs.ts";

const TARGETS = [
  { target: "x86_64-pc-windows-msvc", os: "windows", suffix: ".exe" },
  { target: "x86_64-unknown-linux-gnu", os: "linux", suffix: "-linux-x64" },
  { target: "aarch64-unknown-linux-gnu", os: "linux", suffix: "-linux-arm64" },
  { target: "x86_64-apple-darwin", os: "darwin", suffix: "-macos-x64" },
  { target: "aarch64-apple-darwin", os: "darwin", suffix: "-macos-arm64" },
] as const;

const USAGE = "deno task compile [--verbose] [TARGET...]";

// What deno compile reports when it cannot fetch denort, whatever the network's reason.
const DOWNLOAD_FAILED = /error sending request for url \(https:\/\/dl\.deno\.land\//;

function usageError(message: string): never {
  console.error(`${message}\nUsage: ${USAGE}`);
  Deno.exit(2);
}

const verbose = Deno.args.includes("--verbose");
const names = Deno.args.filter((arg) => arg !== "--verbose");
const unknownOption = names.find((name) => name.startsWith("-"));
if (unknownOption !== undefined) usageError(`Unknown option "${unknownOption}"`);
const unknownTarget = names.find((name) => !TARGETS.some(({ target }) => target === name));
if (unknownTarget !== undefined) {
  usageError(
    `Unknown target "${unknownTarget}": expected one of ${
      TARGETS.map(({ target }) => target).join(", ")
    }`,
  );
}
const targets = names.length === 0
  ? TARGETS
  : TARGETS.filter(({ target }) => names.includes(target));

/** The offline alternative: run the bundles with the permissions compile would bake in. */
function bundleCommands(): string {
  const os = Deno.build.os === "windows" || Deno.build.os === "darwin" ? Deno.build.os : "linux";
  return PROGRAMS.map((program) =>
    `  deno run ${program.permissions(os).join(" ")} ${bundlePath(program)}`
  ).join("\n");
}

/** Runs deno compile; a failed download of denort is told in our words, anything else in Deno's. */
async function compile(args: string[], output: string, target: string): Promise<boolean> {
  if (verbose) return (await new Deno.Command(Deno.execPath(), { args }).spawn().status).success;
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!success && DOWNLOAD_FAILED.test(new TextDecoder().decode(stderr))) {
    console.error(
      `Cannot compile ${output}: deno compile downloads its runtime for ${target} from ` +
        "dl.deno.land (once per target), which cannot be reached " +
        "(`deno task compile --verbose` shows Deno's error).\n" +
        `\`deno task bundle\` works offline; run its bundles with:\n${bundleCommands()}`,
    );
  } else {
    await Deno.stderr.write(stderr);
  }
  return success;
}

for (const { target, os, suffix } of targets) {
  for (const program of PROGRAMS) {
    const output = `dist/${program.name}${suffix}`;
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
      output,
      bundlePath(program),
    ];
    console.log(`deno ${args.join(" ")}`);
    if (!await compile(args, output, target)) Deno.exit(1);
  }
}
