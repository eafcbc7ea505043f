/**
 * The chat server. `deno task server`, or `server.exe` with no arguments:
 * listens on 0.0.0.0:8080 until Ctrl+C.
 *
 * `server accounts ...` manages registered nicknames instead (lib/cli/accounts_command.ts).
 *
 * The same script is each thread of `--workers`: started as a Web Worker, it takes its
 * orders from the main thread instead of the command line. One script is what a bundle
 * or a compiled executable can start again.
 */
import { runMain } from "./lib/cli/run_main.ts";
import { parseServerCommandLine } from "./lib/cli/server_command_line.ts";
import { runServer } from "./lib/cli/run_server.ts";
import { isWorkerThread, runWorker } from "./lib/cli/run_worker.ts";
import { runAccountsCommand } from "./lib/cli/accounts_command.ts";

if (isWorkerThread()) runWorker();
else if (Deno.args[0] === "accounts") await runMain(() => runAccountsCommand(Deno.args.slice(1)));
else {
  await runMain(async () => {
    const { options, settings } = await parseServerCommandLine(Deno.args);
    return runServer(options, settings);
  });
}
