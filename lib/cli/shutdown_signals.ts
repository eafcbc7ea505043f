import { StopRequests } from "./stop_requests.ts";

/**
 * The signals that mean "stop": Ctrl+C everywhere; on Windows also Ctrl+Break and
 * the console window being closed (SIGHUP). Deno rejects other signal names on
 * Windows with "Invalid signal".
 */
const SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK", "SIGHUP", "SIGTERM"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Calls `onStop` at the first stop signal. Another one a second or more later means the
 * user will not wait: the process exits at once with 130, the shell's code for an
 * interrupt. One sooner is the same Ctrl+C again (see StopRequests), and changes nothing.
 */
export function onStopSignal(onStop: (signal: Deno.Signal) => void): Disposable {
  const requests = new StopRequests();
  const listener = (signal: Deno.Signal) => () => {
    switch (requests.receive()) {
      case "stop":
        return onStop(signal);
      case "force":
        return Deno.exit(130);
    }
  };
  const listeners = SIGNALS.map((signal) => {
    const handler = listener(signal);
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  return {
    [Symbol.dispose]() {
      // Once stopping, the listeners stay for the rest of the process: the second SIGINT of
      // one Ctrl+C under `deno task` may still be on its way, and with no listener left it
      // would kill the process (exit 130) just after its clean stop.
      if (requests.stopping) return;
      for (const remove of listeners) remove();
    },
  };
}
