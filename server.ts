/**
 * The chat server. `deno task server`, or `server.exe` with no arguments:
 * listens on 0.0.0.0:8080 until Ctrl+C.
 *
 * The same script is each thread of `--workers`: started as a Web Worker, it takes its
 * orders from the main thread instead of the command line. One script is what a bundle
 * or a compiled executable can start again.
 */
import { runMain } from "./lib/cli/run_main.ts";
import { parseServerCommandLine } from "./lib/cli/server_command_line.ts";
import { runServer } from "./lib/cli/run_server.ts";
import { isWorkerThread, runWorker } from "./lib/cli/run_worker.ts";

if (isWorkerThread()) runWorker();
else {
  await runMain(async () => {
    const { options, settings } = await parseServerCommandLine(Deno.args);
    return runServer(options, settings);
  });
}
