import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteAccounts } from "../../lib/server/accounts/sqlite_accounts.ts";
import { HISTORY_FILE_NAME } from "../../lib/server/chat_database.ts";
import { SqliteHistory } from "../../lib/server/history/sqlite_history.ts";
import { AccountsUnavailableError } from "../../lib/server/accounts/account_store.ts";

const account = (nickname: string, passwordHash = "scrypt$15$8$1$AA==$AA==") => ({
  nickname,
  passwordHash,
  createdAt: 1_700_000_000_000,
});

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sqlite_accounts_test_" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sqlite accounts - reads make no file; the first registration does, and another connection sees it", async () => {
  await withTempDir(async (dir) => {
    await using accounts = new SqliteAccounts(dir);
    assert.equal(await accounts.get("alice"), undefined);
    assert.deepEqual(await accounts.list(), []);
    assert.equal(await accounts.remove("alice"), false);
    assert.equal(await accounts.setPasswordHash("alice", "x"), false);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no file yet");

    assert.equal(await accounts.add("alice", account("Alice")), true);
    assert.equal(await accounts.add("alice", account("ALICE")), false, "one account per key");
    await using other = new SqliteAccounts(dir);
    assert.deepEqual(await other.get("alice"), account("Alice"));
    assert.equal(await other.setPasswordHash("alice", "scrypt$new"), true);
    assert.equal((await accounts.get("alice"))?.passwordHash, "scrypt$new");
    assert.equal(await accounts.add("bob", account("bob")), true);
    assert.deepEqual((await other.list()).map((a) => a.nickname), ["Alice", "bob"]);
    assert.equal(await other.remove("alice"), true);
    assert.equal(await accounts.get("alice"), undefined);
  });
});

Deno.test("sqlite accounts - share the file with history, in either order, and refuse a foreign file", async () => {
  await withTempDir(async (dir) => {
    {
      await using history = SqliteHistory.open({ dataDir: dir });
      history.append("#dev", new Uint8Array([1]), Date.now());
      await using accounts = new SqliteAccounts(dir);
      assert.equal(await accounts.add("alice", account("alice")), true);
    }
    await using history = SqliteHistory.open({ dataDir: dir });
    assert.equal((await history.before("#dev", 0n, 10)).events.length, 1);
    await using accounts = new SqliteAccounts(dir);
    assert.equal((await accounts.get("alice"))?.nickname, "alice");
  });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, HISTORY_FILE_NAME), "not a database at all ".repeat(10));
    await using accounts = new SqliteAccounts(dir);
    await assert.rejects(accounts.get("alice"), AccountsUnavailableError);
  });
});

Deno.test({
  name: "sqlite accounts - the file that holds the password hashes is its owner's alone",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await withTempDir(async (dir) => {
      const dataDir = join(dir, "chat-data");
      await using accounts = new SqliteAccounts(dataDir);
      assert.equal(await accounts.add("alice", account("alice")), true);
      assert.equal(Deno.statSync(dataDir).mode! & 0o777, 0o700);
      for (const name of [...Deno.readDirSync(dataDir)].map((entry) => entry.name)) {
        assert.equal(
          Deno.statSync(join(dataDir, name)).mode! & 0o077,
          0,
          `${name}: no group or other access`,
        );
      }
    });
  },
});
