/** The variable through which Deno picks the root certificates TLS trusts. */
const CA_STORE_VARIABLE = "DENO_TLS_CA_STORE";

/**
 * Has TLS trust the system's root certificates as well as Mozilla's, which Deno bundles and
 * otherwise trusts alone: a company's own authority, installed on its machines, then works.
 * Deno reads the variable when it first needs the roots, so this is set before the first
 * connection. A value the user gave is kept; without the permission to set it
 * (--allow-env=DENO_TLS_CA_STORE), Mozilla's roots alone are trusted.
 */
export function useSystemRootStore(): void {
  try {
    if (Deno.env.get(CA_STORE_VARIABLE) === undefined) {
      Deno.env.set(CA_STORE_VARIABLE, "system,mozilla");
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
  }
}
