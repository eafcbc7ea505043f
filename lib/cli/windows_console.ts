/**
 * Windows console facts that Deno has no API for, read through kernel32 with FFI.
 * Everywhere else, and without --allow-ffi, they answer as a shared terminal would.
 */

/** Code page 65001: the console reads and writes UTF-8, so 한국어 and emoji survive. */
const CP_UTF8 = 65001;

function withKernel32<T>(use: (kernel32: Kernel32) => T, fallback: T): T {
  if (Deno.build.os !== "windows") return fallback;
  let library: Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS> | undefined;
  try {
    library = Deno.dlopen("kernel32.dll", KERNEL32_SYMBOLS);
    return use(library.symbols);
  } catch {
    return fallback;
  } finally {
    library?.close();
  }
}

const KERNEL32_SYMBOLS = {
  GetConsoleProcessList: { parameters: ["buffer", "u32"], result: "u32" },
  SetConsoleCP: { parameters: ["u32"], result: "i32" },
  SetConsoleOutputCP: { parameters: ["u32"], result: "i32" },
} as const;

type Kernel32 = Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS>["symbols"];

/**
 * True when the console window was made for this process alone, as when it is
 * started by a double-click in Explorer: the window vanishes when we exit, so an
 * error must wait for the user to read it.
 */
export function ownsConsoleWindow(): boolean {
  return withKernel32((kernel32) => {
    const processes = new Uint32Array(2);
    return kernel32.GetConsoleProcessList(processes, processes.length) === 1;
  }, false);
}

/** Switches the console to UTF-8 for input and output. */
export function useUtf8Console(): void {
  withKernel32((kernel32) => {
    kernel32.SetConsoleCP(CP_UTF8);
    kernel32.SetConsoleOutputCP(CP_UTF8);
  }, undefined);
}
