/**
 * The browser client end to end: the real server process, its page in real
 * headless Chromium (Debian's `chromium`), driven by Playwright, next to raw
 * protocol clients on TCP. Screenshots of every page go to test-artifacts/browser/;
 * with UPDATE_DOCS_SCREENSHOT=1 the mid-conversation one is also written to
 * docs/browser.png, for the README.
 *
 * Nothing sleeps: every wait polls the page (waitForFunction, waitForSelector) or
 * the protocol inbox under a bounded timeout.
 */
import assert from "node:assert/strict";
import * as playwright from "playwright-core";
import { Action, type ClientMessage, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { decodeClientMessage } from "../../lib/protocol/codec.ts";
import { freePort, runClient } from "../support/client_process.ts";
import { chat } from "../support/messages.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

/**
 * The few DOM names that the callbacks run in the page use. This file is type
 * checked as Deno code, without the DOM library; in the page these are the real ones.
 */
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null; value?: unknown }>;
  activeElement: { id: string } | null;
  documentElement: { scrollWidth: number; clientWidth: number };
};

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const ARTIFACTS = new URL("../../test-artifacts/browser/", import.meta.url);
const DOCS_SCREENSHOT = new URL("../../docs/browser.png", import.meta.url);
/** How long one expected change may take to show in a page. */
const WAIT_MS = 10_000;
/** A restarted server: the old one drains, a new process starts, the page backs off and retries. */
const RECONNECT_MS = 30_000;

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
  ) {}

  /** `serverArgs` go to the server, and to the one started again. */
  static async start(name: string, serverArgs: string[] = []): Promise<Harness> {
    const httpPort = freePort();
    const server = await startServer(httpPort, serverArgs);
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
      return new Harness(name, server, httpPort, browser, serverArgs);
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
    this.server = await startServer(this.httpPort, [
      ...this.serverArgs,
      "--port",
      String(this.server.port),
    ]);
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

async function startServer(httpPort: number, args: string[] = []): Promise<ServerProcess> {
  const server = await ServerProcess.start([...args, "--http-port", String(httpPort)]);
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

  /** Types a line into the message box and presses Enter. */
  async say(text: string, mode: "broadcast" | "echo" = "broadcast"): Promise<void> {
    await this.page.selectOption("#mode", mode);
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

  // The picture for the README: two people in browsers, one on a terminal.
  const docs = Deno.env.get("UPDATE_DOCS_SCREENSHOT") === "1" ? DOCS_SCREENSHOT : undefined;
  await alice.screenshot("conversation", docs);

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

  // Tab walks the controls in reading order.
  await page.focus("#nickname");
  const order = [];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => document.activeElement?.id));
  }
  assert.deepEqual(order, ["nickname-set", "messages", "mode", "input", "send"]);

  // Labelled controls: each can be found by its label, as a screen reader names it.
  for (const label of ["Nickname", "Send as", "Message"]) {
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

  // Welcome is answered with Hello and WhoRequest; then 29 s of silence send nothing.
  await alice.page.clock.runFor(29_000);
  await alice.say("still here");
  await alice.waitForLine(/^\(broadcast\) guest-\d+: still here$/);
  assert.deepEqual(kinds(), ["hello", "who", "chat"]);

  // Sending counts as activity: 29 s after that chat, still nothing; 31 s, a Ping.
  await alice.page.clock.runFor(29_000);
  assert.deepEqual(kinds(), ["hello", "who", "chat"]);
  await alice.page.clock.runFor(2_000);
  await alice.say("/ping");
  await alice.waitForLine(/^\* pong in \d+\.\d ms$/);
  assert.deepEqual(kinds(), ["hello", "who", "chat", "ping", "ping"]);
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
