import process from "node:process";
import * as readline from "node:readline/promises";
import { nicknameProblem } from "../protocol/nickname.ts";
import { formatHostPort } from "../net/format_host_port.ts";
import { parseServerAddress, type ServerAddress } from "./parse_server_address.ts";

export interface ConnectionAnswers extends ServerAddress {
  /** Empty: the guest name the server assigns. */
  nickname: string;
}

/**
 * Asks for the server address and a nickname, for a client started with no
 * arguments (a double-click). Enter takes the default; a bad answer is asked again.
 */
export async function askConnection(defaults: ServerAddress): Promise<ConnectionAnswers> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const fallback = formatHostPort(defaults.hostname, defaults.port);
    let address: ServerAddress | undefined;
    while (address === undefined) {
      const answer = await rl.question(`Server address (Enter for ${fallback}): `);
      address = parseServerAddress(answer, defaults);
      if (address === undefined) {
        console.log(
          `"${answer.trim()}" is not an address; type it like ${fallback}, or just a port`,
        );
      }
    }
    while (true) {
      const nickname = (await rl.question("Nickname (Enter for a guest name): ")).trim();
      // The server checks too; asking again here saves a round trip and a confusing error.
      const problem = nickname === "" ? undefined : nicknameProblem(nickname, "");
      if (problem === undefined) return { ...address, nickname };
      console.log(problem);
    }
  } finally {
    rl.close();
  }
}
