/**
 * The chat client. `deno task client`, or `client.exe`: connects to
 * 127.0.0.1:8080 and opens the interactive console.
 */
import { parseClientCommandLine } from "./lib/cli/client_command_line.ts";
import { runClient } from "./lib/cli/run_client.ts";

Deno.exit(await runClient(await parseClientCommandLine(Deno.args)));
