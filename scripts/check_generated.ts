/**
 * `deno task gen:check`: fails when gen/ differs from what `buf generate` makes
 * of proto/ now, so a proto change without `deno task gen` cannot land.
 */
import { BUF } from "./buf.ts";

const fresh = await Deno.makeTempDir({ prefix: "chat-gen-" });
try {
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BUF, "generate", "--output", fresh],
  }).spawn().status;
  if (!success) Deno.exit(1);
  // gen/web/ is the browser page, built by scripts/build_web.ts and checked there.
  const committed = (await listFiles("gen")).filter((path) => !path.startsWith("web/"));
  const generated = await listFiles(`${fresh}/gen`);
  const stale = [...new Set([...committed, ...generated])].filter((path) =>
    !committed.includes(path) || !generated.includes(path) ||
    Deno.readTextFileSync(`gen/${path}`) !== Deno.readTextFileSync(`${fresh}/gen/${path}`)
  );
  if (stale.length > 0) {
    console.error(
      `gen/ is stale (${stale.join(", ")}): run \`deno task gen\` and commit the result.`,
    );
    Deno.exit(1);
  }
  console.log("gen/ is up to date.");
} finally {
  await Deno.remove(fresh, { recursive: true });
}

async function listFiles(root: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${root}/${prefix}`)) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory) files.push(...await listFiles(root, `${path}/`));
    else files.push(path);
  }
  return files;
}
