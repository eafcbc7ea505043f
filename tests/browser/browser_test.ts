/**
 * The browser client end to end: the real server process, its page in real
 * headless Chromium (Debian's `chromium`), driven by Playwright, next to raw
 * protocol clients on TCP. Screenshots of every page go to test-artifacts/browser/;
 * with UPDATE_DOCS_SCREENSHOT=1 the one with rooms, history and a private
 * conversation is also written to docs/browser.png, for the README.
 *
 * Nothing sleeps: every wait polls the page (waitForFunction, waitForSelector) or
 * the protocol inbox under a bounded timeout.
 */
import assert from "node:assert/strict";
import * as playwright from "playwright-core";
import {
  Action,
  type ClientMessage,
  PresenceKind,
  type ServerMessage,
} from "../../gen/chat/v1/chat_pb.ts";
import { type ClientMessageInit, decodeClientMessage } from "../../lib/protocol/codec.ts";
import { freePort, runClient } from "../support/client_process.ts";
import { chat } from "../support/messages.ts";
import { SERVER_SCRIPT, ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";
import { TestCertificateAuthority, writePemPair } from "../support/test_certificates.ts";

/**
 * The few DOM names that the callbacks run in the page use. This file is type
 * checked as Deno code, without the DOM library; in the page these are the real ones.
 */
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; value?: unknown }>;
  activeElement:
    | { id: string; textContent: string | null; getAttribute(name: string): string | null }
    | null;
  documentElement: { scrollWidth: number; clientWidth: number };
};

/** A broadcast to `room` ("" for the lobby), as a terminal sends it. */
function say(content: string, room: string, clientSeq: bigint): ClientMessageInit {
  return { body: { case: "chat", value: { content, action: Action.BROADCAST, room, clientSeq } } };
}

function joinRequest(room: string): ClientMessageInit {
  return { body: { case: "join", value: { room } } };
}

/** The next Presence of `kind` about `nickname` in `room` ("" for the lobby). */
function presenceIn(
  client: TestClient,
  kind: PresenceKind,
  nickname: string,
  room: string,
): Promise<ServerMessage> {
  return client.nextMatching(
    (m) =>
      m.body.case === "presence" && m.body.value.kind === kind &&
      m.body.value.nickname === nickname && m.body.value.room === room,
    WAIT_MS,
    `presence ${PresenceKind[kind]} ${nickname} ${room}`,
  );
}

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const ARTIFACTS = new URL("../../test-artifacts/browser/", import.meta.url);
const DOCS_SCREENSHOT = new URL("../../docs/browser.png", import.meta.url);
/** How long one expected change may take to show in a page. */
const WAIT_MS = 10_000;
/** A restarted server: the old one drains, a new process starts, the page backs off and retries. */
const RECONNECT_MS = 30_000;

interface HarnessOptions {
  /**
   * The server's history folder, kept across a restart (startServerAgain); by default each
   * server gets a fresh one. The caller makes it and removes it.
   */
  dataDir?: string;
}

interface OpenOptions {
  nickname?: string;
  viewport?: { width: number; height: number };
  beforeLoad?: (page: playwright.Page) => Promise<void>;
}

/** A chat server with HTTP, and a headless Chromium to open its page in. */
class Harness implements AsyncDisposable {
  readonly pages: ChatPage[] = [];
  #clients: TestClient[] = [];

  private constructor(
    readonly name: string,
    public server: ServerProcess,
    readonly httpPort: number,
    readonly browser: playwright.Browser,
    readonly serverArgs: string[],
    readonly launcher: string[] | undefined,
  ) {}

  /** `serverArgs` go to the server, and to the one started again. */
  static async start(
    name: string,
    serverArgs: string[] = [],
    options: HarnessOptions = {},
  ): Promise<Harness> {
    const httpPort = freePort();
    let launcher: string[] | undefined;
    if (options.dataDir !== undefined) {
      serverArgs = [...serverArgs, "--data-dir", options.dataDir];
      launcher = [
        Deno.execPath(),
        "run",
        "--allow-net",
        `--allow-read=${options.dataDir}`,
        `--allow-write=${options.dataDir}`,
        SERVER_SCRIPT,
      ];
    }
    const server = await startServer(httpPort, serverArgs, launcher);
    try {
      const browser = await playwright.chromium.launch({
        executablePath: CHROMIUM,
        // launch() runs it with a fresh temporary --user-data-dir of its own and removes it
        // after. Root needs --no-sandbox; the rest keeps it off the network and quiet.
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
        timeout: 30_000,
      });
      return new Harness(name, server, httpPort, browser, serverArgs, launcher);
    } catch (error) {
      await server.stop("SIGKILL");
      throw error;
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}/`;
  }

  /**
   * A new page in its own browser context (a separate person), connected and, if
   * asked, renamed. `beforeLoad` runs before the page loads (to install a clock, say).
   */
  async open(label: string, options: OpenOptions = {}): Promise<ChatPage> {
    const context = await this.browser.newContext({
      viewport: options.viewport ?? { width: 960, height: 600 },
    });
    const page = new ChatPage(label, context, await context.newPage());
    this.pages.push(page);
    await options.beforeLoad?.(page.page);
    await page.page.goto(this.url);
    await page.waitForState("connected");
    if (options.nickname !== undefined) await page.setNickname(options.nickname);
    return page;
  }

  /** A raw protocol client on TCP: the terminal user. */
  async terminal(nickname: string): Promise<TestClient> {
    const client = await TestClient.connect(this.server.port);
    this.#clients.push(client);
    await client.send({ body: { case: "hello", value: { nickname } } });
    await client.nextPresence(PresenceKind.RENAMED);
    return client;
  }

  /** Stops the server with Ctrl+C, as a person would. */
  async stopServer(): Promise<void> {
    const status = await this.server.stop("SIGINT");
    assert.equal(status.code, 0, `the server should stop cleanly:\n${this.server.stderr.text}`);
  }

  /** Starts a new server on the same TCP and HTTP ports as the stopped one. */
  async startServerAgain(): Promise<void> {
    this.server = await startServer(
      this.httpPort,
      [...this.serverArgs, "--port", String(this.server.port)],
      this.launcher,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      for (const page of this.pages) {
        if (!page.page.isClosed()) await page.screenshot(`${this.name}-${page.label}`);
      }
      for (const client of this.#clients) await client[Symbol.asyncDispose]();
      await this.browser.close();
    } finally {
      await this.server[Symbol.asyncDispose]();
    }
  }
}

/**
 * Runs in the page: the texts of the elements `selector` matches (an input's
 * value), once they differ from `before` (a JSON array, or null for "now").
 */
function textsOnceChanged(
  { selector, before }: { selector: string; before: string | null },
): string[] | false {
  const texts = Array.from(document.querySelectorAll(selector), (element) =>
    // An <li>'s value is a number; an <input>'s is its text.
    typeof element.value === "string" ? element.value : element.textContent ?? "");
  return JSON.stringify(texts) === before ? false : texts;
}

async function startServer(
  httpPort: number,
  args: string[] = [],
  launcher?: string[],
): Promise<ServerProcess> {
  const server = await ServerProcess.start([...args, "--http-port", String(httpPort)], launcher);
  await server.stdout.waitFor(`open http://127.0.0.1:${httpPort} in a browser`, WAIT_MS);
  return server;
}

/** One browser page with the chat, and what went wrong in it. */
class ChatPage {
  /** Script errors, console errors and dialogs: a page that works has none. */
  readonly problems: string[] = [];
  dialogs = 0;

  constructor(
    readonly label: string,
    readonly context: playwright.BrowserContext,
    readonly page: playwright.Page,
  ) {
    page.on("pageerror", (error) => this.problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") this.problems.push(`console: ${message.text()}`);
    });
    page.on("dialog", (dialog) => {
      this.dialogs++;
      this.problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
      dialog.dismiss().catch(() => {});
    });
  }

  /** Types a line into the message box and presses Enter; in a room, in `mode`. */
  async say(text: string, mode: "broadcast" | "echo" = "broadcast"): Promise<void> {
    // In a private conversation there is no mode to choose: lines go to the other person.
    if (await this.page.locator("#mode").isEnabled()) await this.page.selectOption("#mode", mode);
    await this.page.fill("#input", text);
    await this.page.press("#input", "Enter");
    // The box empties once the line went out.
    await this.waitFor("#input", (texts) => texts[0] === "", "the line to be sent");
  }

  async setNickname(nickname: string): Promise<void> {
    await this.page.fill("#nickname", nickname);
    await this.page.press("#nickname", "Enter");
    await this.waitForStatus(new RegExp(`^connected as ${nickname} - \\d+ online$`));
  }

  async waitForState(state: "connecting" | "connected" | "disconnected", ms = WAIT_MS) {
    await this.page.waitForSelector(`#status[data-state="${state}"]`, { timeout: ms });
  }

  async waitForStatus(pattern: RegExp, ms = WAIT_MS): Promise<string> {
    const [status] = await this.waitFor(
      "#status",
      (texts) => pattern.test(texts[0] ?? ""),
      `the status to match ${pattern}`,
      ms,
    );
    return status;
  }

  /** Waits for a line in the message list, exactly as the terminal would print it. */
  async waitForLine(line: string | RegExp, ms = WAIT_MS): Promise<void> {
    const matches = (text: string) => typeof line === "string" ? text === line : line.test(text);
    await this.waitFor("#messages li", (texts) => texts.some(matches), `the line ${line}`, ms);
  }

  /** Waits for the online list to be exactly `names`: in order of arrival, unless `anyOrder`. */
  async waitForOnline(names: string[], anyOrder = false): Promise<void> {
    const arrange = (list: string[]) => anyOrder ? [...list].sort() : list;
    await this.waitFor(
      "#online li",
      (texts) => JSON.stringify(arrange(texts)) === JSON.stringify(arrange(names)),
      `the online list ${JSON.stringify(names)}`,
    );
  }

  lines(): Promise<string[]> {
    return this.page.locator("#messages li").allTextContents();
  }

  /** Joins a room as a person does: its name in the box on the left, then the Join button. */
  async joinRoom(room: string): Promise<void> {
    await this.page.getByLabel("Join a room", { exact: true }).fill(room);
    await this.page.getByRole("button", { name: "Join", exact: true }).click();
    await this.waitForHeading(room);
  }

  /** Shows a room ("#dev") or a private conversation ("@bob") by clicking its entry. */
  async showView(key: string, heading: string): Promise<void> {
    await this.page.click(`nav button.view-select[data-view="${key}"]`);
    await this.waitForHeading(heading);
  }

  async waitForHeading(heading: string): Promise<void> {
    await this.waitFor("#view-heading", (texts) => texts[0] === heading, `the view ${heading}`);
  }

  /** Waits for the rooms listed on the left to be exactly `rooms`, in order. */
  async waitForRooms(rooms: string[]): Promise<void> {
    await this.waitFor(
      "#rooms .view-select .name",
      (texts) => JSON.stringify(texts) === JSON.stringify(rooms),
      `the rooms ${JSON.stringify(rooms)}`,
    );
  }

  /** Waits for the private conversations listed on the left to be exactly `names`. */
  async waitForPrivates(names: string[]): Promise<void> {
    await this.waitFor(
      "#privates .view-select .name",
      (texts) => JSON.stringify(texts) === JSON.stringify(names),
      `the conversations ${JSON.stringify(names)}`,
    );
  }

  /** Waits for the unread count of a room or conversation to show `count` (0: none shown). */
  async waitForUnread(key: string, count: number): Promise<void> {
    const selector = `nav button.view-select[data-view="${key}"] .unread:not([hidden])`;
    await this.waitFor(
      selector,
      (texts) => count === 0 ? texts.length === 0 : texts[0] === `${count} unread`,
      `${count} unread in ${key}`,
    );
  }

  /**
   * Waits until the texts of the elements `selector` matches (an input's value for
   * an input) satisfy `accept`. The page reports each change (polled in the page),
   * so this never sleeps; on timeout the error says what the texts were.
   */
  async waitFor(
    selector: string,
    accept: (texts: string[]) => boolean,
    what: string,
    ms = WAIT_MS,
  ): Promise<string[]> {
    const deadline = Date.now() + ms;
    let texts: string[] | undefined;
    while (true) {
      const before = texts === undefined ? null : JSON.stringify(texts);
      try {
        const handle = await this.page.waitForFunction(
          textsOnceChanged,
          { selector, before },
          { timeout: Math.max(1, deadline - Date.now()), polling: 50 },
        );
        texts = await handle.jsonValue() as string[];
        await handle.dispose();
      } catch (error) {
        if (!(error instanceof playwright.errors.TimeoutError)) throw error;
        throw new Error(
          `${this.label}: timed out after ${ms} ms waiting for ${what}; ` +
            `${selector} is ${JSON.stringify(texts)}`,
        );
      }
      if (accept(texts)) return texts;
    }
  }

  async screenshot(name: string, also?: URL): Promise<void> {
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const path = new URL(`${name}.png`, ARTIFACTS).pathname;
      const png = await this.page.screenshot({ path, timeout: 5_000 });
      if (also !== undefined) {
        await Deno.mkdir(new URL(".", also), { recursive: true });
        await Deno.writeFile(also, png);
      }
    } catch (error) {
      // A closed page has nothing to show; the test's own failure matters more.
      console.error(`no screenshot of ${this.label}: ${error}`);
    }
  }

  assertNoProblems(): void {
    assert.deepEqual(this.problems, [], `${this.label} had problems`);
  }
}

Deno.test("browser - two pages and a terminal client join and see each other online", async () => {
  await using room = await Harness.start("join");
  const alice = await room.open("alice", { nickname: "alice" });
  const bob = await room.open("bob", { nickname: "bob" });
  const carol = await room.terminal("carol");

  await alice.waitForOnline(["alice (you)", "bob", "carol"]);
  await bob.waitForOnline(["alice", "bob (you)", "carol"]);
  await alice.waitForStatus(/^connected as alice - 3 online$/);
  await bob.waitForStatus(/^connected as bob - 3 online$/);
  await alice.waitForLine("* you are now alice");

  // The terminal sees the pages as ordinary sessions of the same hub.
  await carol.send({ body: { case: "who", value: {} } });
  const who = await carol.next("who");
  assert.deepEqual(who.users.map((user) => user.nickname), ["alice", "bob", "carol"]);

  for (const page of room.pages) page.assertNoProblems();
});

Deno.test("browser - a broadcast reaches both pages and the terminal, an echo only its sender", async () => {
  await using room = await Harness.start("chat");
  const alice = await room.open("alice", { nickname: "alice" });
  const bob = await room.open("bob", { nickname: "bob" });
  const carol = await room.terminal("carol");
  await alice.waitForOnline(["alice (you)", "bob", "carol"]);

  await alice.say("hi bob, hi carol");
  await bob.say("hello from the browser");
  await carol.send(chat("hello from the terminal", Action.BROADCAST, 1n));
  for (const page of [alice, bob]) {
    await page.waitForLine("(broadcast) alice: hi bob, hi carol");
    await page.waitForLine("(broadcast) bob: hello from the browser");
    await page.waitForLine("(broadcast) carol: hello from the terminal");
  }
  const heard = await carol.take("chat", 3);
  assert.deepEqual(heard.map((event) => `${event.fromNickname}: ${event.content}`), [
    "alice: hi bob, hi carol",
    "bob: hello from the browser",
    "carol: hello from the terminal",
  ]);

  // An echo, then a broadcast from the same page: frames from one connection are
  // handled in order, so once the others have the broadcast they would have had the echo.
  await alice.say("note to self", "echo");
  await alice.waitForLine("(echo) note to self");
  await alice.say("that was an echo");
  await bob.waitForLine("(broadcast) alice: that was an echo");
  const event = await carol.next("chat");
  assert.equal(event.content, "that was an echo");
  assert.ok(!(await bob.lines()).some((line) => line.includes("note to self")));
  assert.ok(
    !carol.received.some((m) => m.body.case === "chat" && m.body.value.content === "note to self"),
  );

  await alice.screenshot("conversation");

  // The real terminal client prints a broadcast exactly as the page shows it.
  const run = await runClient(
    ["--port", String(room.server.port), "--nick", "dave", "send", "a line from client.ts"],
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "(broadcast) dave: a line from client.ts\n");
  await alice.waitForLine(run.stdout.trimEnd());
  await bob.waitForLine(run.stdout.trimEnd());
  await alice.waitForLine("* dave left (3 online)");

  for (const page of room.pages) page.assertNoProblems();
});

Deno.test("browser - presence: joins, renames and leaves update the list and the log", async () => {
  await using room = await Harness.start("presence");
  const alice = await room.open("alice", { nickname: "alice" });
  await alice.waitForOnline(["alice (you)"]);

  const bob = await room.open("bob");
  const guest = /^connected as (guest-\d+) - 2 online$/.exec(await bob.waitForStatus(/guest/))![1];
  await alice.waitForLine(`* ${guest} joined (2 online)`);
  await alice.waitForOnline(["alice (you)", guest]);
  await bob.setNickname("bob");
  await alice.waitForLine(`* ${guest} is now bob`);
  await bob.waitForLine("* you are now bob");
  await alice.waitForOnline(["alice (you)", "bob"]);

  const carol = await room.terminal("carol");
  await alice.waitForLine(`* ${carol.welcome.nickname} joined (3 online)`);
  await bob.waitForOnline(["alice", "bob (you)", "carol"]);
  await bob.waitForStatus(/^connected as bob - 3 online$/);

  await carol[Symbol.asyncDispose]();
  await alice.waitForLine("* carol left (2 online)");
  await alice.waitForOnline(["alice (you)", "bob"]);

  // A page that goes away leaves like any other client; the terminal sees it.
  const dave = await TestClient.connect(room.server.port);
  await bob.page.close();
  const left = await dave.nextPresence(PresenceKind.LEFT);
  assert.equal(left.nickname, "bob");
  await dave[Symbol.asyncDispose]();
  await alice.waitForLine("* bob left (2 online)");
  await alice.waitForLine(`* ${dave.welcome.nickname} left (1 online)`);
  await alice.waitForOnline(["alice (you)"]);
  await alice.waitForStatus(/^connected as alice - 1 online$/);

  // A name that is taken is refused, shown as an error, and the old name stays.
  const erin = await room.terminal("erin");
  await alice.page.fill("#nickname", "ERIN");
  await alice.page.press("#nickname", "Enter");
  const refused = (await alice.waitFor(
    "#messages li.error",
    (texts) => texts.length > 0,
    "an error line",
  ))[0];
  assert.match(refused, /^! .*ERIN/);
  await alice.waitForStatus(/^connected as alice - 2 online$/);
  await erin[Symbol.asyncDispose]();

  alice.assertNoProblems();
});

Deno.test("browser - markup in a message is shown as text, never run", async () => {
  await using room = await Harness.start("escaping");
  const alice = await room.open("alice", { nickname: "alice" });
  const bob = await room.open("bob", { nickname: "bob" });
  const carol = await room.terminal("carol");
  await alice.waitForOnline(["alice (you)", "bob", "carol"]);

  const attack = "<img src=x onerror=alert(1)>";
  await alice.say(attack);
  await carol.send(chat("<script>alert(2)</script><b>bold?</b>", Action.BROADCAST, 1n));
  // Controls and bidi overrides are made visible, as on the terminal.
  await carol.send(chat("line 1\nline 2 \u202eevil", Action.BROADCAST, 2n));
  for (const page of [alice, bob]) {
    await page.waitForLine(`(broadcast) alice: ${attack}`);
    await page.waitForLine("(broadcast) carol: <script>alert(2)</script><b>bold?</b>");
    await page.waitForLine("(broadcast) carol: line 1\u240aline 2 \ufffdevil");
    // No element came out of the text: one script (the page's own), no img, no b.
    assert.equal(await page.page.locator("img").count(), 0);
    assert.equal(await page.page.locator("b").count(), 0);
    assert.equal(await page.page.locator("script").count(), 1);
    await page.page.getByText(attack).first().waitFor({ state: "visible", timeout: WAIT_MS });
    assert.equal(page.dialogs, 0);
    page.assertNoProblems();
  }
});

Deno.test("browser - a line too long or too fast stays in the box, with the error shown", async () => {
  await using room = await Harness.start("refused", [
    "--max-content-bytes",
    "100",
    // One line, then one every 100 s: the second line is refused however slow the machine.
    "--rate-burst",
    "1",
    "--rate-limit",
    "0.01",
  ]);
  const alice = await room.open("alice", { nickname: "alice" });
  const carol = await room.terminal("carol");
  await alice.waitForOnline(["alice (you)", "carol"]);

  // 34 characters, 102 bytes: the limit counts UTF-8 bytes, as the server does.
  const long = "안".repeat(34);
  await alice.page.fill("#input", long);
  await alice.page.press("#input", "Enter");
  await alice.waitForLine("! Message is 102 bytes long; the limit is 100");
  assert.equal(await alice.page.inputValue("#input"), long);

  // The first line the server sees is the shortened one: the long one never left the page.
  await alice.page.fill("#input", "안".repeat(33));
  await alice.page.press("#input", "Enter");
  await alice.waitFor("#input", (texts) => texts[0] === "", "the line to be sent");
  assert.equal((await carol.next("chat")).content, "안".repeat(33));

  await alice.page.fill("#input", "/echo too soon");
  await alice.page.press("#input", "Enter");
  await alice.waitForLine(/^! You are sending messages too fast/);
  await alice.waitFor("#input", (texts) => texts[0] === "/echo too soon", "the line to come back");
  alice.assertNoProblems();
});

Deno.test("browser - the page reconnects after a server restart and chats again", async () => {
  await using room = await Harness.start("reconnect");
  const alice = await room.open("alice", { nickname: "alice" });
  const bob = await room.open("bob", { nickname: "bob" });
  await alice.waitForOnline(["alice (you)", "bob"]);

  await room.stopServer();
  for (const page of [alice, bob]) {
    await page.waitForLine("! The server is shutting down");
    await page.waitForStatus(/^disconnected, reconnecting in \d+ s$/);
    await page.waitForOnline([]);
  }
  await alice.waitFor(
    "#messages li",
    (lines) => lines.some((line) => /^disconnected - reconnecting in \d+\.\d s$/.test(line)),
    "the disconnect line",
  );

  await room.startServerAgain();
  // The nickname is asked for again after the reconnect, as the terminal client does.
  await alice.waitForStatus(/^connected as alice - 2 online$/, RECONNECT_MS);
  await bob.waitForStatus(/^connected as bob - 2 online$/, RECONNECT_MS);
  // Whichever page came back first is first now.
  await alice.waitForOnline(["alice (you)", "bob"], true);
  await alice.waitFor(
    "#messages li",
    (lines) => lines.some((line) => line.startsWith("* reconnected after ")),
    "the reconnect line",
  );

  await alice.say("back again");
  await bob.waitForLine("(broadcast) alice: back again");
  const carol = await room.terminal("carol");
  await bob.say("welcome back");
  const event = await carol.next("chat");
  assert.equal(event.content, "welcome back");

  for (const page of room.pages) {
    // While the server was down the browser logged failed connection attempts: expected.
    const problems = page.problems.filter((text) => !text.includes("WebSocket connection to"));
    assert.deepEqual(problems, [], `${page.label} had problems`);
  }
});

Deno.test("browser - on a phone the page fits the screen, and the keyboard reaches every control", async () => {
  await using room = await Harness.start("phone");
  const alice = await room.open("alice", { viewport: { width: 360, height: 640 } });
  const { page } = alice;

  // The message box has the focus from the start.
  assert.equal(await page.evaluate(() => document.activeElement?.id), "input");
  const status = await alice.waitForStatus(/^connected as guest-\d+ /);
  const guest = /^connected as (\S+)/.exec(status)![1];
  await page.keyboard.type("typed without a click");
  await page.keyboard.press("Enter");
  await alice.waitForLine(`(broadcast) ${guest}: typed without a click`);

  // Tab walks the controls in reading order: the nickname, the account form (closed), the
  // rooms (each with its leave button) and the box to join one, the messages, then the line
  // to send.
  await page.focus("#nickname");
  const order = [];
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Tab");
    order.push(
      await page.evaluate(() => {
        const focused = document.activeElement;
        return focused?.id || focused?.getAttribute("aria-label") || focused?.textContent;
      }),
    );
  }
  assert.deepEqual(order, [
    "nickname-set",
    "Account",
    "#lobby",
    "Leave #lobby",
    "join-room",
    "join",
    "messages",
    "mode",
    "input",
    "send",
  ]);

  // Labelled controls: each can be found by its label, as a screen reader names it.
  for (const label of ["Nickname", "Join a room", "Send as", "Message", "Leave #lobby"]) {
    assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
  }

  // A long unbroken word and a long name wrap instead of widening the page.
  await alice.setNickname("a-very-long-nickname-on-a-phone");
  await alice.say("x".repeat(300));
  await alice.waitForLine(`(broadcast) a-very-long-nickname-on-a-phone: ${"x".repeat(300)}`);
  const width = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(width.scroll <= width.client, `horizontal scroll: ${JSON.stringify(width)}`);
  alice.assertNoProblems();
});

Deno.test("browser - an idle page pings every 30 s, and only when idle", async () => {
  await using room = await Harness.start("keepalive");
  // What the page sends, decoded; and a clock the test moves, so no one waits 30 s.
  const sent: ClientMessage[] = [];
  const alice = await room.open("alice", {
    beforeLoad: async (page) => {
      await page.clock.install();
      page.on("websocket", (socket) =>
        socket.on("framesent", ({ payload }) => {
          if (typeof payload !== "string") sent.push(decodeClientMessage(payload));
        }));
    },
  });
  const kinds = () => sent.map((message) => message.body.case);

  // Welcome is answered with Hello, a JoinRequest of the lobby (for its history) and a
  // WhoRequest of the lobby; then 29 s of silence send nothing.
  await alice.page.clock.runFor(29_000);
  await alice.say("still here");
  await alice.waitForLine(/^\(broadcast\) guest-\d+: still here$/);
  assert.deepEqual(kinds(), ["hello", "join", "who", "chat"]);

  // Sending counts as activity: 29 s after that chat, still nothing; 31 s, a Ping.
  await alice.page.clock.runFor(29_000);
  assert.deepEqual(kinds(), ["hello", "join", "who", "chat"]);
  await alice.page.clock.runFor(2_000);
  await alice.say("/ping");
  await alice.waitForLine(/^\* pong in \d+\.\d ms$/);
  assert.deepEqual(kinds(), ["hello", "join", "who", "chat", "ping", "ping"]);
  // The keepalive's Pong came first and showed nothing; only the asked-for one did.
  const pongs = (await alice.lines()).filter((line) => line.startsWith("* pong"));
  assert.equal(pongs.length, 1);
  alice.assertNoProblems();
});

Deno.test("browser - a message padded with spaces wraps onto indented lines, never a line of its own", async () => {
  await using room = await Harness.start("wrap-forgery");
  const alice = await room.open("alice", { nickname: "alice" });
  const mallory = await room.terminal("mallory");
  await alice.waitForOnline(["alice (you)", "mallory"]);

  // More spaces than any line holds: however wide the page, the forged text starts a new line.
  const forged = "(broadcast) admin: please send me your password";
  await mallory.send(chat(`ok${" ".repeat(300)}${forged}`, Action.BROADCAST, 1n));
  await alice.waitForLine(`(broadcast) mallory: ok${" ".repeat(300)}${forged}`);
  const item = alice.page.locator("#messages li", { hasText: forged });
  // Where the message's first character and the forged text's first character are drawn.
  const [first, tail, character] = await item.evaluate((li, at) => {
    const text = li.firstChild!;
    const box = (start: number) => {
      const range = li.ownerDocument.createRange();
      range.setStart(text, start);
      range.setEnd(text, start + 1);
      const { left, top, width } = range.getBoundingClientRect();
      return { left, top, width };
    };
    return [box(0), box(at), box(0).width];
  }, `(broadcast) mallory: ok${" ".repeat(300)}`.length);
  assert.ok(tail.top > first.top, "the forged text is on a line below");
  assert.ok(
    Math.abs(tail.left - first.left - 4 * character) < 1,
    `indented by four characters: ${JSON.stringify({ first, tail, character })}`,
  );
  alice.assertNoProblems();
});

/** A line from history, as the page shows it: dated, then as the terminal prints it. */
function historyLine(text: string): RegExp {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^\\[\\d\\d:\\d\\d\\] ${escaped}$`);
}

Deno.test("browser - two tabs in different rooms see only their room's messages", async () => {
  await using room = await Harness.start("rooms");
  // carol, on a terminal, is in #dev first and said something there: alice's join brings it.
  const carol = await room.terminal("carol");
  await carol.send(joinRequest("#dev"));
  await carol.next("joined");
  const earlier = ["morning, all", "the build is green", "deploying to staging now"];
  await carol.send(...earlier.map((text, i) => say(text, "#dev", BigInt(i + 1))));
  await carol.take("chat", earlier.length);

  const alice = await room.open("alice", {
    nickname: "alice",
    viewport: { width: 1100, height: 620 },
  });
  const bob = await room.open("bob", { nickname: "bob" });
  await alice.waitForRooms(["#lobby"]);

  // A click joins #dev, which is then shown: its history, set apart, then the join.
  await alice.joinRoom("#dev");
  await alice.waitForRooms(["#lobby", "#dev"]);
  await alice.waitForLine("* joined #dev (2 members)");
  const history = await alice.waitFor(
    "#messages li.history",
    (texts) => texts.length === earlier.length,
    "the history of #dev",
  );
  earlier.forEach((text, i) => assert.match(history[i], historyLine(`(broadcast) carol: ${text}`)));
  await alice.waitForOnline(["carol", "alice (you)"]);
  await presenceIn(carol, PresenceKind.JOINED, "alice", "#dev");

  // What alice types goes to #dev; what bob types, to the lobby.
  await alice.say("on it");
  await alice.waitForLine("(broadcast) alice: on it");
  const heard = await carol.nextMatching((m) =>
    m.body.case === "chat" && m.body.value.content === "on it"
  );
  assert.equal(heard.body.case === "chat" && heard.body.value.room, "#dev");
  await bob.say("lunch, anyone?");
  await bob.waitForLine("(broadcast) bob: lunch, anyone?");
  await carol.send(say("release at five?", "#dev", 4n));
  await alice.waitForLine("(broadcast) carol: release at five?");

  // The lobby's message waits in alice's lobby, counted as unread; bob saw nothing of #dev.
  await alice.waitForUnread("#lobby", 1);
  assert.ok(!(await alice.lines()).some((line) => line.includes("lunch")));
  await carol.send(say("sentinel", "", 5n));
  await bob.waitForLine("(broadcast) carol: sentinel");
  for (const line of await bob.lines()) {
    assert.doesNotMatch(line, /on it|build is green|release at five/);
  }

  await alice.showView("#lobby", "#lobby");
  await alice.waitForLine("(broadcast) bob: lunch, anyone?");
  await alice.waitForUnread("#lobby", 0);
  await alice.waitForUnread("#dev", 0);
  await alice.waitForOnline(["carol", "alice (you)", "bob"]);
  for (const line of await alice.lines()) {
    assert.doesNotMatch(line, /on it|build is green|release at five/);
  }

  // The picture for the README: three rooms, history, unread messages, a conversation.
  await alice.joinRoom("#design");
  await alice.waitForLine("* joined #design (1 member)");
  await alice.showView("#dev", "#dev");
  await carol.send(say("the release notes are in the wiki", "#dev", 6n));
  await alice.waitForLine("(broadcast) carol: the release notes are in the wiki");
  await alice.say("thanks, reading them now");
  await bob.say("the new café opened downstairs");
  await bob.say("anyone for coffee at three?");
  await alice.waitForUnread("#lobby", 2);
  await bob.say("/msg alice are you coming to the demo?");
  await alice.waitForUnread("@bob", 1);
  const docs = Deno.env.get("UPDATE_DOCS_SCREENSHOT") === "1" ? DOCS_SCREENSHOT : undefined;
  await alice.screenshot("rooms", docs);

  // Typed commands work as on the terminal.
  await alice.say("/join #ops");
  await alice.waitForHeading("#ops");
  await alice.waitForRooms(["#lobby", "#dev", "#design", "#ops"]);
  await alice.say("/who");
  await alice.waitForLine("* 1 in #ops: alice (you)");
  await alice.say("/part");
  await alice.waitForRooms(["#lobby", "#dev", "#design"]);
  // The room shown next is the one joined last.
  await alice.waitForHeading("#design");
  await alice.waitForLine("* left #ops");

  // Leaving by its button: the room goes from the list, and its members are told.
  await alice.showView("#dev", "#dev");
  await alice.page.getByRole("button", { name: "Leave #dev", exact: true }).click();
  await alice.waitForRooms(["#lobby", "#design"]);
  await presenceIn(carol, PresenceKind.LEFT, "alice", "#dev");
  await carol.send(say("still here in #dev", "#dev", 7n));
  await carol.send(say("and in the lobby", "", 8n));
  await alice.showView("#lobby", "#lobby");
  await alice.waitForLine("(broadcast) carol: and in the lobby");
  assert.ok(!(await alice.lines()).some((line) => line.includes("still here in #dev")));

  for (const page of room.pages) page.assertNoProblems();
});

Deno.test("browser - history is shown after a reload", async () => {
  await using room = await Harness.start("history", [
    "--history-on-join",
    "20",
    "--rate-burst",
    "200",
    "--rate-limit",
    "100",
  ]);
  // A short window, so that what a join brings fills it and there is room to scroll up.
  const alice = await room.open("alice", {
    nickname: "alice",
    viewport: { width: 960, height: 360 },
  });
  await alice.say("the first message");
  await alice.waitForLine("(broadcast) alice: the first message");
  const carol = await room.terminal("carol");
  const count = 100;
  await carol.send(
    ...Array.from({ length: count }, (_, i) => say(`message ${i + 1}`, "", BigInt(i + 1))),
  );
  await alice.waitForLine(`(broadcast) carol: message ${count}`);

  // After a reload the page joins the lobby again: its last 20 messages, marked as history.
  await alice.page.reload();
  await alice.waitForState("connected");
  const expected = [
    "(broadcast) alice: the first message",
    ...Array.from({ length: count }, (_, i) => `(broadcast) carol: message ${i + 1}`),
  ];
  const matchesTail = (texts: string[], length: number) =>
    texts.length === length &&
    texts.every((text, i) => historyLine(expected[expected.length - length + i]).test(text));
  await alice.waitFor(
    "#messages li.history",
    (texts) => matchesTail(texts, 20),
    "the last 20 messages from history",
  );
  // Set apart from live messages: muted and slanted.
  const style = await alice.page.locator("#messages li.history").first().evaluate((item) =>
    item.ownerDocument.defaultView!.getComputedStyle(item).fontStyle
  );
  assert.equal(style, "italic");
  await carol.send(say("live again", "", BigInt(count + 1)));
  await alice.waitForLine("(broadcast) carol: live again");
  assert.equal(
    await alice.page.locator("#messages li", { hasText: "live again" }).getAttribute("class"),
    "broadcast",
  );

  // Scrolling to the top brings 50 earlier messages above, in order, the reader's place kept.
  const more = alice.page.getByRole("button", { name: "Earlier messages", exact: true });
  await more.waitFor({ state: "visible", timeout: WAIT_MS });
  await alice.page.locator("#messages").evaluate((list) => {
    list.scrollTop = 0;
  });
  await alice.waitFor(
    "#messages li.history",
    (texts) => matchesTail(texts, 70),
    "50 earlier messages above",
  );
  const scrollTop = await alice.page.locator("#messages").evaluate((list) => list.scrollTop);
  assert.ok(scrollTop > 0, `the reader stays where they were, not at the top: ${scrollTop}`);

  // The button brings the rest; then nothing earlier is kept.
  await more.click();
  await alice.waitFor(
    "#messages li.history",
    (texts) => matchesTail(texts, expected.length),
    "every message kept",
  );
  await more.waitFor({ state: "hidden", timeout: WAIT_MS });
  await alice.waitFor("#history-note", (texts) => texts[0] === "nothing earlier is kept", "note");
  // Each message once, the live one last.
  const lines = await alice.lines();
  assert.equal(lines.filter((line) => line.endsWith("carol: message 7")).length, 1);
  assert.equal(lines.at(-1), "(broadcast) carol: live again");
  alice.assertNoProblems();
});

Deno.test("browser - a private message opens its own view", async () => {
  await using room = await Harness.start("private");
  const alice = await room.open("alice", { nickname: "alice" });
  const bob = await room.open("bob", { nickname: "bob" });
  const carol = await room.terminal("carol");
  await alice.waitForOnline(["alice (you)", "bob", "carol"]);

  // bob types /msg in the lobby: his conversation with alice opens and is shown.
  await bob.say("/msg alice psst, a secret");
  await bob.waitForHeading("Private: alice");
  await bob.waitForPrivates(["alice"]);
  await bob.waitForLine("(private to alice) psst, a secret");

  // alice gets it in a conversation of its own, counted as unread; her lobby does not show it.
  await alice.waitForPrivates(["bob"]);
  await alice.waitForUnread("@bob", 1);
  assert.ok(!(await alice.lines()).some((line) => line.includes("psst")));
  await alice.showView("@bob", "Private: bob");
  await alice.waitForLine("(private) bob: psst, a secret");
  await alice.waitForUnread("@bob", 0);
  assert.ok(await alice.page.locator("#mode").isDisabled(), "no echo or broadcast here");

  // A plain line in the conversation goes to bob alone.
  await alice.say("got it");
  await alice.waitForLine("(private to bob) got it");
  await bob.waitForLine("(private) alice: got it");
  await alice.showView("#lobby", "#lobby");
  await alice.say("sentinel");
  const sentinel = await carol.nextMatching((m) =>
    m.body.case === "chat" && m.body.value.content === "sentinel"
  );
  assert.equal(sentinel.body.case, "chat");
  assert.ok(
    !carol.received.some((m) => m.body.case === "chat" && /psst|got it/.test(m.body.value.content)),
    "the terminal saw none of it",
  );

  // From a terminal, too.
  await carol.send({
    body: {
      case: "chat",
      value: { content: "hi from the terminal", action: Action.PRIVATE, toNickname: "ALICE" },
    },
  });
  await alice.waitForPrivates(["bob", "carol"]);
  await alice.waitForUnread("@carol", 1);

  // Nobody of that name: the error says so, the line comes back, and no conversation opens.
  await alice.page.fill("#input", "/msg nobody are you there?");
  await alice.page.press("#input", "Enter");
  await alice.waitForLine('! Nobody called "nobody" is online');
  await alice.waitFor(
    "#input",
    (texts) => texts[0] === "/msg nobody are you there?",
    "the line to come back",
  );
  await alice.waitFor("#messages li.error", (texts) => texts.length === 1, "one error line");
  await alice.waitForPrivates(["bob", "carol"]);

  // A conversation closes with its button; a new message opens it again.
  await alice.page.getByRole("button", { name: "Close the conversation with carol" }).click();
  await alice.waitForPrivates(["bob"]);
  for (const page of room.pages) page.assertNoProblems();
});

Deno.test("browser - after a reconnect each room shows what it missed, once, or says it is lost", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "chat-data-" });
  try {
    // Three messages kept per room: of five missed, two are lost.
    await using room = await Harness.start("resume", ["--history-size", "3"], { dataDir });
    // The page's clock is the test's: it reconnects when the test lets it.
    const alice = await room.open("alice", {
      nickname: "alice",
      beforeLoad: (page) => page.clock.install(),
    });
    await alice.joinRoom("#dev");
    await alice.waitForLine("* joined #dev (1 member)");
    const carol = await room.terminal("carol");
    await carol.send(joinRequest("#dev"));
    await carol.next("joined");
    await carol.send(say("before the restart", "#dev", 1n));
    await alice.waitForLine("(broadcast) carol: before the restart");

    await room.stopServer();
    const [disconnected] = (await alice.waitFor(
      "#messages li",
      (lines) => lines.some((line) => /^disconnected - reconnecting in \d+\.\d s$/.test(line)),
      "the disconnect line",
    )).filter((line) => line.startsWith("disconnected"));
    const delay = Number(/in (\d+\.\d) s/.exec(disconnected)![1]) * 1000;

    // While the page is away: five messages in #dev, one in the lobby.
    await room.startServerAgain();
    const dave = await room.terminal("dave");
    await dave.send(joinRequest("#dev"));
    await dave.next("joined");
    for (let n = 1; n <= 5; n++) await dave.send(say(`missed ${n}`, "#dev", BigInt(n)));
    await dave.send(say("lobby news", "", 6n));
    await dave.take("chat", 6);

    await alice.page.clock.runFor(Math.ceil(delay) + 100);
    await alice.waitForStatus(/^connected as alice - 2 online$/, RECONNECT_MS);
    await alice.waitForLine(historyLine("(broadcast) dave: missed 5"));
    const lines = await alice.lines();
    // After the last message seen: what is lost, then what is kept, once each, as history.
    const after = lines.slice(lines.indexOf("(broadcast) carol: before the restart") + 1)
      .filter((line) =>
        !line.startsWith("disconnected") && !line.startsWith("* ") &&
        line !== "! The server is shutting down"
      );
    assert.equal(after.length, 4, JSON.stringify(after));
    assert.equal(
      after[0],
      "! 2 messages in #dev were missed while you were away and are no longer kept",
    );
    [3, 4, 5].forEach((n, i) =>
      assert.match(after[i + 1], historyLine(`(broadcast) dave: missed ${n}`))
    );
    for (const n of [3, 4, 5]) {
      assert.equal(lines.filter((line) => line.endsWith(`dave: missed ${n}`)).length, 1);
    }
    await alice.waitForOnline(["alice (you)", "dave"], true);

    // The lobby's missed message waits there, unread.
    await alice.waitForUnread("#lobby", 1);
    await alice.showView("#lobby", "#lobby");
    await alice.waitForLine(historyLine("(broadcast) dave: lobby news"));

    // Live again, and nothing twice.
    await dave.send(say("live in the lobby", "", 7n));
    await alice.waitForLine("(broadcast) dave: live in the lobby");
    const lobby = await alice.lines();
    assert.equal(lobby.filter((line) => line.endsWith("lobby news")).length, 1);

    const problems = alice.problems.filter((text) => !text.includes("WebSocket connection to"));
    assert.deepEqual(problems, []);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("browser - a reload keeps the tab's nickname and rooms, and shows the room it was on", async () => {
  await using room = await Harness.start("reload");
  const alice = await room.open("alice", { nickname: "alice" });
  const carol = await room.terminal("carol");
  await carol.send(joinRequest("#dev"));
  await carol.next("joined");
  await carol.send(say("before the reload", "#dev", 1n));
  await alice.joinRoom("#dev");
  await alice.waitForLine(historyLine("(broadcast) carol: before the reload"));
  await alice.page.reload();
  await alice.waitForStatus(/^connected as alice - \d+ online$/);
  await alice.waitForRooms(["#lobby", "#dev"]);
  await alice.waitForHeading("#dev");
  await alice.waitForLine(historyLine("(broadcast) carol: before the reload"));
});

/**
 * A HOME whose NSS database (where Chromium on Linux looks for the user's certificates)
 * trusts `caCert`, so that the browser verifies the server's certificate for real.
 */
async function homeTrusting(caCert: string): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "chromium-home-" });
  const nssdb = `${home}/.pki/nssdb`;
  await Deno.mkdir(nssdb, { recursive: true });
  await Deno.writeTextFile(`${home}/ca.pem`, caCert);
  for (
    const args of [
      ["-d", `sql:${nssdb}`, "-N", "--empty-password"],
      ["-d", `sql:${nssdb}`, "-A", "-t", "C,,", "-n", "chat-test-ca", "-i", `${home}/ca.pem`],
    ]
  ) {
    const { code, stderr } = await new Deno.Command("certutil", { args, stdout: "null" }).output();
    assert.equal(code, 0, `certutil ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  }
  return home;
}

Deno.test("browser - the page over HTTPS, trusting the test's CA, chats over wss://", async () => {
  const ca = await TestCertificateAuthority.create();
  const home = await homeTrusting(ca.cert);
  try {
    const paths = writePemPair(home, await ca.issue());
    const httpPort = freePort();
    await using server = await ServerProcess.start(
      [
        ...["--tls-cert", paths.cert, "--tls-key", paths.key, "--history-size", "0"],
        ...["--http-port", String(httpPort)],
      ],
      [Deno.execPath(), "run", "--allow-net", `--allow-read=${home}`, SERVER_SCRIPT],
    );
    await server.stdout.waitFor(`open https://127.0.0.1:${httpPort} in a browser`, WAIT_MS);
    const browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      // No --ignore-certificate-errors: the certificate is verified against HOME's NSS database.
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      env: { ...Deno.env.toObject(), HOME: home },
      timeout: 30_000,
    });
    try {
      const context = await browser.newContext({ viewport: { width: 960, height: 600 } });
      const alice = new ChatPage("alice", context, await context.newPage());
      const response = await alice.page.goto(`https://127.0.0.1:${httpPort}/`);
      assert.equal(response?.status(), 200);
      await alice.waitForState("connected");
      await alice.setNickname("alice");
      await using carol = await TestClient.connectTls(server.port, [ca.cert]);
      await carol.send({ body: { case: "hello", value: { nickname: "carol" } } });
      await alice.waitForOnline(["alice (you)", "carol"]);
      await alice.say("hello over wss");
      assert.equal((await carol.next("chat")).content, "hello over wss");
      await carol.send(chat("hello over TLS", Action.BROADCAST, 1n));
      await alice.waitForLine("(broadcast) carol: hello over TLS");
      assert.ok(server.stdout.text.includes("(websocket+tls) as guest-"));
      await alice.screenshot("https");
      alice.assertNoProblems();
    } finally {
      await browser.close();
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
