/**
 * Registered nicknames against real server processes: registering and identifying, the
 * look-alike rule, storage across restarts and across a cluster, the failed-login limits,
 * the plain-text rule, --require-account and the operator's command. Every test checks
 * that no password it used reached a log line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AccountChange,
  type AccountChanged,
  Action,
  type Error as ErrorMessage,
  ErrorCode,
  PresenceKind,
  type ServerMessage,
} from "../../gen/chat/v1/chat_pb.ts";
import type { ClientMessageInit } from "../../lib/protocol/codec.ts";
import { startClusterServer } from "../support/cluster.ts";
import { RedisProcess } from "../support/redis_process.ts";
import { runCommand } from "../support/run_command.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestCertificateAuthority, writePemPair } from "../support/test_certificates.ts";
import { TestClient } from "../support/test_client.ts";
import { launcherFor, tempDir } from "../support/data_dir.ts";

const PASSWORD = "correct horse battery";
const OTHER_PASSWORD = "tr0ub4dor&3 again";
const WRONG_PASSWORD = "not the password";
const EVERY_PASSWORD = [PASSWORD, OTHER_PASSWORD, WRONG_PASSWORD];

const hello = (nickname: string, password = ""): ClientMessageInit => ({
  body: { case: "hello", value: { nickname, password } },
});
const register = (password: string): ClientMessageInit => ({
  body: { case: "register", value: { password } },
});
const changePassword = (oldPassword: string, newPassword: string): ClientMessageInit => ({
  body: { case: "changePassword", value: { oldPassword, newPassword } },
});
const unregister = (password: string): ClientMessageInit => ({
  body: { case: "unregister", value: { password } },
});
const chat = (content: string): ClientMessageInit => ({
  body: { case: "chat", value: { content, action: Action.ECHO, clientSeq: 1n } },
});
const WHO: ClientMessageInit = { body: { case: "who", value: {} } };

/** A server on `dir`/data, with `args`. */
function startIn(dir: string, args: string[]): Promise<ServerProcess> {
  return ServerProcess.start(["--data-dir", join(dir, "data"), ...args], launcherFor(dir));
}

/** `server accounts ...args` on `dir`/data, to its end. */
function accountsCommand(dir: string, args: string[]) {
  return runCommand([
    ...launcherFor(dir),
    "accounts",
    ...args,
    "--data-dir",
    join(dir, "data"),
  ]);
}

/** A message for an assertion's text: JSON, with bigints as numbers. */
function show(value: unknown): string {
  return JSON.stringify(value, (_key, field) => typeof field === "bigint" ? Number(field) : field);
}

/** The answer to an account request: AccountChanged, or an Error. */
async function answer(client: TestClient): Promise<AccountChanged | ErrorMessage> {
  const message = await client.nextMatching(
    (m) => m.body.case === "account" || m.body.case === "error",
    15_000,
    "an account change or an error",
  );
  return message.body.value as AccountChanged | ErrorMessage;
}

async function expectChange(client: TestClient, change: AccountChange, nickname: string) {
  const got = await answer(client);
  assert.ok("change" in got, `expected ${AccountChange[change]}, got ${show(got)}`);
  assert.deepEqual([AccountChange[got.change], got.nickname], [AccountChange[change], nickname]);
}

async function expectError(client: TestClient, code: ErrorCode): Promise<ErrorMessage> {
  const got = await answer(client);
  assert.ok("code" in got, `expected ${ErrorCode[code]}, got ${show(got)}`);
  assert.equal(ErrorCode[got.code], ErrorCode[code], got.message);
  return got;
}

/** Connects, takes `nickname` (a guest's), registers it with `password`. */
async function registered(port: number, nickname: string, password = PASSWORD) {
  const client = await TestClient.connect(port);
  await client.send(hello(nickname), register(password));
  await expectChange(client, AccountChange.REGISTERED, nickname);
  return client;
}

async function who(client: TestClient): Promise<string[]> {
  await client.send(WHO);
  return (await client.next("who")).users.map((user) => user.nickname).sort();
}

/** Stops the servers and checks that none of them logged a password. */
async function assertNoPasswordLogged(...servers: ServerProcess[]): Promise<void> {
  for (const server of servers) {
    await server.stop();
    const log = `${server.stdout.text}\n${server.stderr.text}`;
    for (const password of EVERY_PASSWORD) {
      assert.ok(!log.includes(password), `a password was logged:\n${log}`);
    }
  }
}

const isFatal = (message: ServerMessage, code: ErrorCode) =>
  message.body.case === "error" && message.body.value.code === code && message.body.value.fatal;

Deno.test("accounts - register, then identify on another connection; a wrong or missing password and look-alikes are refused", async () => {
  await using dir = await tempDir("chat-accounts-");
  // Many requests in a row: no rename limit.
  await using server = await startIn(dir.path, [
    "--allow-plaintext-passwords",
    "--rename-limit",
    "0",
  ]);
  await using alice = await registered(server.port, "alice");
  assert.equal(alice.welcome.passwordsAccepted, true);
  assert.equal(alice.welcome.accountRequired, false);

  await using bob = await TestClient.connect(server.port);
  await bob.send(hello("alice"));
  const registeredError = await expectError(bob, ErrorCode.NICKNAME_REGISTERED);
  assert.equal(registeredError.fatal, false);
  // Case variants, other scripts' look-alikes (Cyrillic "а") and accents or dots (nonspacing
  // marks) are the same account.
  for (const lookAlike of ["ALICE", "\u0430lice", "ａｌｉｃｅ", "\u00e1lice", "alice\u0323"]) {
    await bob.send(hello(lookAlike));
    assert.match((await expectError(bob, ErrorCode.NICKNAME_REGISTERED)).message, /"alice"/);
  }
  await bob.send(hello("alice", WRONG_PASSWORD));
  assert.equal(
    (await expectError(bob, ErrorCode.AUTH_FAILED)).message,
    'Wrong password for "alice"',
  );
  // The right password, while alice's own connection holds the name: taken.
  await bob.send(hello("alice", PASSWORD));
  await expectError(bob, ErrorCode.NICKNAME_TAKEN);

  const aliceId = alice.sessionId;
  await alice[Symbol.asyncDispose]();
  await bob.nextMatching(
    (m) =>
      m.body.case === "presence" && m.body.value.kind === PresenceKind.LEFT &&
      m.body.value.sessionId === aliceId,
  );
  // In another spelling: the registered one is taken.
  await bob.send(hello("Alice", PASSWORD));
  await expectChange(bob, AccountChange.IDENTIFIED, "alice");
  assert.deepEqual(await who(bob), ["alice"]);

  // Renaming away drops the identification: coming back needs the password again.
  await bob.send(hello("bobby"));
  await bob.nextPresence(PresenceKind.RENAMED);
  await bob.send(hello("alice"));
  await expectError(bob, ErrorCode.NICKNAME_REGISTERED);
  await bob.send(changePassword(PASSWORD, OTHER_PASSWORD));
  await expectError(bob, ErrorCode.NOT_IDENTIFIED);

  await assertNoPasswordLogged(server);
});

Deno.test("accounts - registering needs a nickname of one's own, a password of 8 to 1024 bytes, and a free name", async () => {
  await using dir = await tempDir("chat-accounts-");
  // Many requests in a row: no rename limit.
  await using server = await startIn(dir.path, [
    "--allow-plaintext-passwords",
    "--rename-limit",
    "0",
  ]);
  await using guest = await TestClient.connect(server.port);
  await guest.send(register(PASSWORD));
  assert.match(
    (await expectError(guest, ErrorCode.NOT_IDENTIFIED)).message,
    /^Cannot register a guest nickname/,
  );
  await guest.send(hello("carol"), register("short"));
  assert.equal(
    (await expectError(guest, ErrorCode.AUTH_FAILED)).message,
    "Cannot register: the password is 5 bytes long; it needs at least 8",
  );
  await guest.send(register(PASSWORD));
  await expectChange(guest, AccountChange.REGISTERED, "carol");
  await guest.send(register(PASSWORD));
  await expectError(guest, ErrorCode.NICKNAME_REGISTERED);

  // The owner changes the password, then gives the account up.
  await guest.send(changePassword(WRONG_PASSWORD, OTHER_PASSWORD));
  await expectError(guest, ErrorCode.AUTH_FAILED);
  await guest.send(changePassword(PASSWORD, OTHER_PASSWORD));
  await expectChange(guest, AccountChange.PASSWORD_CHANGED, "carol");
  await guest.send(unregister(PASSWORD));
  await expectError(guest, ErrorCode.AUTH_FAILED);
  await guest.send(unregister(OTHER_PASSWORD));
  await expectChange(guest, AccountChange.UNREGISTERED, "carol");

  // Free again: anyone may take it without a password.
  await guest[Symbol.asyncDispose]();
  await using next = await TestClient.connect(server.port);
  await next.send(hello("carol"));
  assert.equal((await next.nextPresence(PresenceKind.RENAMED)).nickname, "carol");
  await assertNoPasswordLogged(server);
});

Deno.test("accounts - a restart on the same --data-dir keeps the accounts, with --history-size 0 too", async () => {
  await using dir = await tempDir("chat-accounts-");
  const args = ["--allow-plaintext-passwords", "--history-size", "0"];
  {
    await using server = await startIn(dir.path, args);
    await using _alice = await registered(server.port, "alice");
    await assertNoPasswordLogged(server);
  }
  await using server = await startIn(dir.path, args);
  await using again = await TestClient.connect(server.port);
  await again.send(hello("alice"));
  await expectError(again, ErrorCode.NICKNAME_REGISTERED);
  await again.send(hello("alice", PASSWORD));
  await expectChange(again, AccountChange.IDENTIFIED, "alice");
  await assertNoPasswordLogged(server);
});

Deno.test("accounts - three servers on one Redis share the accounts", async () => {
  await using redis = await RedisProcess.start();
  const args = ["--allow-plaintext-passwords", "--quiet"];
  await using a = await startClusterServer(redis.url, args);
  await using b = await startClusterServer(redis.url, args);
  await using c = await startClusterServer(redis.url, args);
  {
    await using _alice = await registered(a.port, "alice");
  }
  await using onB = await TestClient.connect(b.port);
  await onB.send(hello("\u0430lice"));
  await expectError(onB, ErrorCode.NICKNAME_REGISTERED);
  await using onC = await TestClient.connect(c.port);
  // The connection on A may still hold the name for a moment: each try is a fresh claim.
  let identified: AccountChanged | ErrorMessage;
  do {
    await onC.send(hello("alice", PASSWORD));
    identified = await answer(onC);
  } while ("code" in identified && identified.code === ErrorCode.NICKNAME_TAKEN);
  assert.ok("change" in identified, show(identified));
  assert.deepEqual([identified.change, identified.nickname], [AccountChange.IDENTIFIED, "alice"]);
  await assertNoPasswordLogged(a, b, c);
});

Deno.test("accounts - failed logins are limited per account and per address, and logged once per burst", async () => {
  await using dir = await tempDir("chat-accounts-");
  await using server = await startIn(dir.path, [
    "--allow-plaintext-passwords",
    "--limit-loopback",
    "--rename-limit",
    "0",
  ]);
  await using _alice = await registered(server.port, "alice");
  await using mallory = await TestClient.connect(server.port);
  for (let i = 0; i < 5; i++) {
    await mallory.send(hello("alice", WRONG_PASSWORD));
    await expectError(mallory, ErrorCode.AUTH_FAILED);
  }
  // Locked: even the right password is not checked now.
  await mallory.send(hello("alice", PASSWORD));
  assert.equal(
    (await expectError(mallory, ErrorCode.AUTH_FAILED)).message,
    'Too many failed logins for "alice"; try again in 60 s',
  );
  // 15 more names from the same address make 20: the address is locked.
  for (let i = 0; i < 15; i++) {
    await mallory.send(hello(`nobody${i}`, WRONG_PASSWORD));
    await expectError(mallory, ErrorCode.AUTH_FAILED);
  }
  await mallory.send(hello("someone", WRONG_PASSWORD));
  assert.equal(
    (await expectError(mallory, ErrorCode.AUTH_FAILED)).message,
    "Too many failed logins from your address; try again in 60 s",
  );
  const failures = server.stdout.lines.filter((line) => line.includes("failed logins"));
  assert.equal(failures.length, 2, failures.join("\n"));
  assert.match(
    failures[0],
    /failed logins: 5 for alice from 127\.0\.0\.1 in \d+ s; locked for 60 s/,
  );
  assert.match(
    failures[1],
    /failed logins: 20 from 127\.0\.0\.1 for alice, nobody0 and 14 more in \d+ s; locked for 60 s/,
  );
  await assertNoPasswordLogged(server);
});

Deno.test("accounts - a password over a plain connection is refused unread without --allow-plaintext-passwords, and taken over TLS", async () => {
  await using dir = await tempDir("chat-accounts-");
  await using plain = await startIn(dir.path, []);
  await using client = await TestClient.connect(plain.port);
  assert.equal(client.welcome.passwordsAccepted, false);
  await client.send(hello("alice", PASSWORD));
  await expectError(client, ErrorCode.PASSWORD_NOT_ENCRYPTED);
  await client.send(hello("alice"), register(PASSWORD));
  await expectError(client, ErrorCode.PASSWORD_NOT_ENCRYPTED);
  await assertNoPasswordLogged(plain);

  const authority = await TestCertificateAuthority.create();
  const files = writePemPair(dir.path, await authority.issue());
  await using tls = await ServerProcess.start(
    ["--data-dir", join(dir.path, "tls-data"), "--tls-cert", files.cert, "--tls-key", files.key],
    launcherFor(dir.path),
  );
  await using overTls = await TestClient.connectTls(tls.port, [authority.cert]);
  assert.equal(overTls.welcome.passwordsAccepted, true);
  await overTls.send(hello("alice"), register(PASSWORD));
  await expectChange(overTls, AccountChange.REGISTERED, "alice");
  await overTls[Symbol.asyncDispose]();
  await using again = await TestClient.connectTls(tls.port, [authority.cert]);
  let identified: AccountChanged | ErrorMessage;
  do {
    await again.send(hello("alice", PASSWORD));
    identified = await answer(again);
  } while ("code" in identified && identified.code === ErrorCode.NICKNAME_TAKEN);
  assert.ok("change" in identified, show(identified));
  assert.equal(identified.change, AccountChange.IDENTIFIED);
  await assertNoPasswordLogged(tls);
});

Deno.test("accounts - --require-account: guests are refused, an account added by the operator gets in, and deleting it shuts it out", async () => {
  await using dir = await tempDir("chat-accounts-");
  const passwordFile = join(dir.path, "password.txt");
  await Deno.writeTextFile(passwordFile, `${PASSWORD}\n`);
  const added = await accountsCommand(dir.path, ["add", "alice", "--password-file", passwordFile]);
  assert.deepEqual([added.code, added.stdout, added.stderr], [0, 'Added account "alice".\n', ""]);
  const control = await accountsCommand(dir.path, [
    "add",
    "bad\x1b[2Jname",
    "--password-file",
    passwordFile,
  ]);
  assert.deepEqual([control.code, control.stdout], [1, ""]);
  assert.ok(!control.stderr.includes("\x1b"), `a control character was printed: ${control.stderr}`);
  assert.match(control.stderr, /^Cannot add "bad\u241b\[2Jname": /);

  await using server = await startIn(dir.path, [
    "--require-account",
    "--allow-plaintext-passwords",
    "--frame-timeout",
    "2",
    "--log-format",
    "json",
  ]);
  // Connected and silent: nobody sees it, and it is cut once its time to identify is up.
  await using waiting = await TestClient.connect(server.port);
  assert.equal(waiting.welcome.accountRequired, true);

  for (const attempt of [hello("bob"), chat("hi"), hello("bob", PASSWORD), hello("alice")]) {
    await using guest = await TestClient.connect(server.port);
    await guest.send(attempt);
    const refused = await guest.nextMatching((m) => isFatal(m, ErrorCode.AUTH_REQUIRED));
    assert.match(
      (refused.body.value as ErrorMessage).message,
      /Only registered users may use this server/,
    );
    await guest.closed;
  }

  await using alice = await TestClient.connect(server.port);
  await alice.send(hello("alice", PASSWORD));
  await expectChange(alice, AccountChange.IDENTIFIED, "alice");
  assert.deepEqual(await who(alice), ["alice"], "nobody who has not identified is seen");
  await waiting.nextMatching((m) => isFatal(m, ErrorCode.AUTH_REQUIRED));

  // Let in, it may rename, but not mint an account of its own under the new name.
  await alice.send(hello("mallory"), register(PASSWORD));
  assert.match(
    (await expectError(alice, ErrorCode.UNSUPPORTED)).message,
    /its operator makes the accounts \(server accounts add NAME\)/,
  );

  // Deleted while the server runs: the session is cut, and the next login is refused.
  const deleted = await accountsCommand(dir.path, ["delete", "ALICE"]);
  assert.deepEqual([deleted.code, deleted.stdout], [0, 'Deleted account "alice".\n']);
  const cut = await alice.nextMatching((m) => isFatal(m, ErrorCode.AUTH_REQUIRED), 30_000);
  assert.match((cut.body.value as ErrorMessage).message, /Your account was deleted/);
  await alice.closed;
  await using late = await TestClient.connect(server.port);
  await late.send(hello("alice", PASSWORD));
  await late.nextMatching((m) => isFatal(m, ErrorCode.AUTH_REQUIRED));
  const unknown = await accountsCommand(dir.path, ["delete", "alice"]);
  assert.deepEqual([unknown.code, unknown.stdout, unknown.stderr], [
    1,
    "",
    'No account "alice" (nor one that looks like it)\n',
  ]);
  const list = await accountsCommand(dir.path, ["list"]);
  assert.deepEqual([list.code, list.stdout], [0, ""]);
  await assertNoPasswordLogged(server);
});

Deno.test("accounts - registrations are limited per requester (a loopback connection) and in all by --max-accounts", async () => {
  await using dir = await tempDir("chat-accounts-");
  await using server = await startIn(dir.path, [
    "--allow-plaintext-passwords",
    "--rename-limit",
    "0",
    "--max-accounts",
    "5",
  ]);
  await using first = await TestClient.connect(server.port);
  for (const name of ["ann1", "ann2", "ann3"]) {
    await first.send(hello(name), register(PASSWORD));
    await expectChange(first, AccountChange.REGISTERED, name);
  }
  await first.send(hello("ann4"), register(PASSWORD));
  assert.match(
    (await expectError(first, ErrorCode.RATE_LIMITED)).message,
    /^Cannot register "ann4": 3 accounts were registered from your address within the hour; try again in \d+ min$/,
  );
  // Behind a reverse proxy every user is 127.0.0.1: loopback is counted per connection.
  await using second = await TestClient.connect(server.port);
  for (const name of ["ben1", "ben2"]) {
    await second.send(hello(name), register(PASSWORD));
    await expectChange(second, AccountChange.REGISTERED, name);
  }
  await second.send(hello("ben3"), register(PASSWORD));
  assert.equal(
    (await expectError(second, ErrorCode.UNAVAILABLE)).message,
    'Cannot register "ben3": this server has as many accounts as it allows (5); ask its operator',
  );
  // The operator is not bound by it.
  const passwordFile = join(dir.path, "password.txt");
  await Deno.writeTextFile(passwordFile, PASSWORD);
  const added = await accountsCommand(dir.path, ["add", "carl", "--password-file", passwordFile]);
  assert.equal(added.code, 0, added.stderr);
  await assertNoPasswordLogged(server);
});

Deno.test("accounts - --require-account without TLS or --allow-plaintext-passwords says at start that nobody can log in but through an HTTPS proxy", async () => {
  await using dir = await tempDir("chat-accounts-");
  await using server = await startIn(dir.path, ["--require-account"]);
  await server.stop();
  const log = `${server.stdout.text}\n${server.stderr.text}`;
  const notices = log.split("\n").filter((line) => line.includes("--require-account without TLS"));
  assert.equal(notices.length, 1, log);
  assert.match(notices[0], /--allow-plaintext-passwords/);

  await using plain = await startIn(dir.path, [
    "--require-account",
    "--allow-plaintext-passwords",
  ]);
  await plain.stop();
  assert.ok(!plain.stdout.text.includes("without TLS"), plain.stdout.text);
});

Deno.test("accounts - with no flags, guests notice nothing: no password asked, and names are free", async () => {
  await using server = await ServerProcess.start();
  await using guest = await TestClient.connect(server.port);
  assert.deepEqual([guest.welcome.passwordsAccepted, guest.welcome.accountRequired], [
    false,
    false,
  ]);
  await guest.send(hello("dave"), chat("hello"));
  assert.equal((await guest.nextPresence(PresenceKind.RENAMED)).nickname, "dave");
  assert.equal((await guest.next("chat")).content, "hello");
  assert.equal(guest.received.some((m) => m.body.case === "error"), false);
});
