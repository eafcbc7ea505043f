/**
 * The chat client. `deno task client`, or `client.exe`: with no arguments on a
 * console it asks for the server and a nickname, then opens the chat.
 */
import { parseClientCommandLine } from "./lib/cli/client_command_line.ts";
import { runClient } from "./lib/cli/run_client.ts";
import { runMain } from "./lib/cli/run_main.ts";

await runMain(async () => runClient(await parseClientCommandLine(Deno.args)));
