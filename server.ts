/**
 * The chat server. `deno task server`, or `server.exe` with no arguments:
 * listens on 0.0.0.0:8080 until Ctrl+C.
 */
import { parseServerCommandLine } from "./lib/cli/server_command_line.ts";
import { runServer } from "./lib/cli/run_server.ts";

await runServer(await parseServerCommandLine(Deno.args));
