/**
 * An environment variable, or undefined when it is unset or the program may not read it:
 * `deno run --allow-net server.ts` still works, it just does not see the variable.
 */
export function optionalEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name);
}
