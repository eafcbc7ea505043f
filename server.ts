/**
 * The chat server. `deno task server`, or `server.exe` with no arguments:
 * listens on 0.0.0.0:8080 until Ctrl+C.
 */
import { runMain } from "./lib/cli/run_main.ts";
import { parseServerCommandLine } from "./lib/cli/server_command_line.ts";
import { runServer } from "./lib/cli/run_server.ts";

await runMain(async () => runServer(await parseServerCommandLine(Deno.args)));
