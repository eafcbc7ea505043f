import { Command } from "@commander-js/extra-typings";
import { type AccountStore, AccountsUnavailableError } from "../server/accounts/account_store.ts";
import { Accounts } from "../server/accounts/accounts.ts";
import { FailedLogins } from "../server/accounts/failed_logins.ts";
import { SqliteAccounts } from "../server/accounts/sqlite_accounts.ts";
import { BackplaneConnectError } from "../server/errors.ts";
import { DEFAULT_SERVER_OPTIONS } from "../server/options.ts";
import { nicknameKey, nicknameProblem } from "../protocol/nickname.ts";
import { passwordProblem } from "../protocol/password.ts";
import { describeError } from "../util/describe_error.ts";
import { optionalEnv } from "../util/optional_env.ts";
import { parseRedisUrl } from "./option_parsers.ts";
import { configureProgram, parseArguments } from "./run_program.ts";
import { PromptCancelledError, promptWithoutEcho } from "./no_echo_prompt.ts";
import { excerpt } from "./excerpt.ts";

/** How long a change waits for a running server's write to the same file. */
const BUSY_TIMEOUT_MS = 5000;

/** A problem to print in one line, with the command's exit code 1. */
class AccountsCommandError extends Error {
  override name = "AccountsCommandError";
}

interface StoreOptions {
  dataDir: string;
  redis?: string;
  redisCa?: string;
}

/**
 * `server accounts list|add NAME|delete NAME`: the operator's side of registered
 * nicknames, on the server's --data-dir (beside a running server: the file takes writes
 * from both) or its --redis. Returns the exit code: 0, 1 for a refusal (an unknown
 * account, a name taken), 2 for a command line that cannot be understood.
 */
export async function runAccountsCommand(args: string[]): Promise<number> {
  let run: (() => Promise<void>) | undefined;
  const storeOptions = (command: Command) =>
    command
      .option(
        "--data-dir <folder>",
        "the server's --data-dir, where history.sqlite3 keeps the accounts",
        DEFAULT_SERVER_OPTIONS.dataDir,
      )
      .option(
        "--redis <url>",
        "the cluster's Redis, where it keeps the accounts (env REDIS_URL)",
        parseRedisUrl,
      )
      .option("--redis-ca <file>", "with a rediss:// URL: trust this PEM CA for Redis too");
  const program = configureProgram(new Command())
    .name("server accounts")
    .description("Registered nicknames: list, add or delete accounts.");
  storeOptions(program.command("list").description("list the accounts"))
    .action((options) => {
      run = () => withStore(options, listAccounts);
    });
  storeOptions(program.command("add").description("register NAME with a password"))
    .argument("<name>", "the nickname to register")
    .option("--password-file <file>", "read the password from this file (its first line)")
    .action((name, options) => {
      run = () => withStore(options, (store) => addAccount(store, name, options.passwordFile));
    });
  storeOptions(program.command("delete").description("delete the account of NAME"))
    .argument("<name>", "the nickname (or one that looks like it)")
    .action((name, options) => {
      run = () => withStore(options, (store) => deleteAccount(store, name));
    });
  await parseArguments(program, args);
  if (run === undefined) {
    program.outputHelp();
    return 2;
  }
  try {
    await run();
    return 0;
  } catch (error) {
    if (
      error instanceof AccountsCommandError || error instanceof AccountsUnavailableError ||
      error instanceof BackplaneConnectError || error instanceof PromptCancelledError
    ) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
}

async function withStore(
  options: StoreOptions,
  use: (store: AccountStore) => Promise<void>,
): Promise<void> {
  const redisUrl = options.redis ?? redisFromEnv();
  let store: AccountStore;
  if (redisUrl !== undefined) {
    const { RedisAccounts } = await import("../server/redis/redis_accounts.ts");
    store = await RedisAccounts.connect(redisUrl, readRedisCa(options.redisCa));
  } else store = new SqliteAccounts(options.dataDir, BUSY_TIMEOUT_MS);
  await using _store = store;
  await use(store);
}

function redisFromEnv(): string | undefined {
  const url = optionalEnv("REDIS_URL");
  if (!url) return undefined;
  try {
    return parseRedisUrl(url);
  } catch (error) {
    throw new AccountsCommandError(`REDIS_URL: ${describeError(error)}`);
  }
}

async function listAccounts(store: AccountStore): Promise<void> {
  const accounts = await store.list();
  if (accounts.length === 0) console.error("No accounts.");
  for (const account of accounts) {
    const created = new Date(account.createdAt).toISOString().slice(0, 16).replace("T", " ");
    console.log(`${account.nickname}\tregistered ${created} UTC`);
  }
}

async function addAccount(
  store: AccountStore,
  name: string,
  passwordFile: string | undefined,
): Promise<void> {
  const nickname = name.normalize("NFC");
  const problem = nicknameProblem(nickname, "");
  if (problem !== undefined) {
    throw new AccountsCommandError(`Cannot add "${excerpt(name)}": ${excerpt(problem, 200)}`);
  }
  const existing = await store.get(nicknameKey(nickname));
  if (existing !== undefined) throw taken(nickname, existing.nickname);
  const password = await readPassword(passwordFile);
  const weak = passwordProblem(password);
  if (weak !== undefined) throw new AccountsCommandError(`Cannot add "${nickname}": ${weak}`);
  // No logins here: the limits are the server's.
  const accounts = new Accounts(store, new FailedLogins({}, { log() {} }));
  const result = await accounts.register(nickname, password);
  if (result.kind !== "registered") throw taken(nickname);
  console.log(`Added account "${nickname}".`);
}

function taken(nickname: string, registered = nickname): AccountsCommandError {
  const like = registered === nickname ? "" : ` (as "${registered}", which looks like it)`;
  return new AccountsCommandError(`Cannot add "${nickname}": it is registered already${like}`);
}

async function deleteAccount(store: AccountStore, name: string): Promise<void> {
  const key = nicknameKey(name.normalize("NFC"));
  const account = await store.get(key);
  if (account === undefined || !await store.remove(key)) {
    throw new AccountsCommandError(
      `No account "${excerpt(name)}" (nor one that looks like it)`,
    );
  }
  console.log(`Deleted account "${account.nickname}".`);
}

/** The password file's first line, or one typed at a prompt that does not echo. */
async function readPassword(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      throw new AccountsCommandError(
        `Cannot read the password file ${file}: ${describeError(error)}`,
      );
    }
    return text.split(/\r?\n/, 1)[0];
  }
  if (!Deno.stdin.isTerminal()) {
    throw new AccountsCommandError(
      "Cannot ask for a password: standard input is not a terminal; give --password-file FILE",
    );
  }
  const password = await promptWithoutEcho("Password: ");
  if (await promptWithoutEcho("Again: ") !== password) {
    throw new AccountsCommandError("Cannot add the account: the two passwords differ");
  }
  return password;
}

function readRedisCa(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return Deno.readTextFileSync(file);
  } catch (error) {
    throw new AccountsCommandError(`Cannot read --redis-ca ${file}: ${describeError(error)}`);
  }
}
