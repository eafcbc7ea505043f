import process from "node:process";
import * as readline from "node:readline/promises";
import type { ClientTlsOptions } from "../client/tls_connect.ts";
import { nicknameProblem } from "../protocol/nickname.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { parseServerAddress, type ServerAddress } from "./parse_server_address.ts";

export interface ConnectionAnswers extends ServerAddress {
  /** Empty: the guest name the server assigns. */
  nickname: string;
  /** Set when typed as "tls://host:port": over TLS, verified through the system's authorities. */
  tls?: ClientTlsOptions;
}

const TLS_SCHEME = /^\s*tls:\/\//i;

/**
 * Asks for the server address and a nickname, for a client started with no
 * arguments (a double-click). Enter takes the default; a bad answer is asked again;
 * "tls://host:port" connects over TLS.
 * Undefined when the user leaves instead (Ctrl+C or Ctrl+D).
 */
export async function askConnection(
  defaults: ServerAddress,
): Promise<ConnectionAnswers | undefined> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  // A question pending when the input closes is never answered: race it with leaving.
  let answered = false;
  const left = new Promise<undefined>((resolve) => {
    rl.once("close", () => resolve(undefined));
    rl.once("SIGINT", () => resolve(undefined));
  });
  const ask = (question: string) => Promise.race([rl.question(question), left]);
  try {
    const fallback = formatHostPort(defaults.hostname, defaults.port);
    let address: ServerAddress | undefined;
    let tls: ClientTlsOptions | undefined;
    while (address === undefined) {
      const answer = await ask(`Server address (Enter for ${fallback}): `);
      if (answer === undefined) return undefined;
      tls = TLS_SCHEME.test(answer) ? {} : undefined;
      address = parseServerAddress(answer.replace(TLS_SCHEME, ""), defaults);
      if (address === undefined) {
        console.log(
          `"${answer.trim()}" is not an address; type it like ${fallback}, or just a port`,
        );
      }
    }
    while (true) {
      const answer = await ask("Nickname (Enter for a guest name): ");
      if (answer === undefined) return undefined;
      const nickname = answer.trim();
      // The server checks too; asking again here saves a round trip and a confusing error.
      const problem = nickname === "" ? undefined : nicknameProblem(nickname, "");
      if (problem === undefined) {
        answered = true;
        return { ...address, nickname, tls };
      }
      console.log(problem);
    }
  } finally {
    rl.close();
    // After ^C or ^D, leave the shell a line of its own.
    if (!answered) console.log();
  }
}
