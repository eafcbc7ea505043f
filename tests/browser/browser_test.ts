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
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
} from "npm:playwright-core@1.65.1";
import { Action, PresenceKind } from "../../gen/chat/v1/chat_pb.ts";
import { freePort, runClient } from "../support/client_process.ts";
import { chat } from "../support/messages.ts";
import { ServerProcess } from "../support/server_process.ts";
import { TestClient } from "../support/test_client.ts";

/**
 * The few DOM names that the callbacks run in the page use. This file is type
 * checked as Deno code, without the DOM library; in the page these are the real ones.
 */
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  querySelector(selector: string): { textContent: string | null } | null;
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

/** A chat server with HTTP, and a headless Chromium to open its page in. */
class Harness implements AsyncDisposable {
  readonly pages: ChatPage[] = [];
  #clients: TestClient[] = [];

  private constructor(
    readonly name: string,
    public server: ServerProcess,
    readonly httpPort: number,
    readonly browser: Browser,
  ) {}

  static async start(name: string): Promise<Harness> {
    const httpPort = freePort();
    const server = await startServer(httpPort);
    try {
      const browser = await chromium.launch({
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
      return new Harness(name, server, httpPort, browser);
    } catch (error) {
      await server.stop("SIGKILL");
      throw error;
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}/`;
  }

  /** A new page in its own browser context (a separate person), connected and, if asked, renamed. */
  async open(label: string, nickname?: string, viewport = { width: 960, height: 600 }) {
    const context = await this.browser.newContext({ viewport });
    const page = new ChatPage(label, context, await context.newPage());
    this.pages.push(page);
    await page.page.goto(this.url);
    await page.waitForState("connected");
    if (nickname !== undefined) await page.setNickname(nickname);
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

  /** Stops the server with Ctrl+C and starts a new one on the same TCP and HTTP ports. */
  async restartServer(): Promise<void> {
    const tcpPort = this.server.port;
    const status = await this.server.stop("SIGINT");
    assert.equal(status.code, 0, `the server should stop cleanly:\n${this.server.stderr.text}`);
    this.server = await startServer(this.httpPort, ["--port", String(tcpPort)]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      for (const page of this.pages) await page.screenshot(`${this.name}-${page.label}`);
      for (const client of this.#clients) await client[Symbol.asyncDispose]();
      await this.browser.close();
    } finally {
      await this.server[Symbol.asyncDispose]();
    }
  }
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
    readonly context: BrowserContext,
    readonly page: Page,
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
    await this.waitFor("#input", (texts) => texts.length === 1, "the line to be sent");
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
  async waitForLine(line: string, ms = WAIT_MS): Promise<void> {
    await this.waitFor("#messages li", (texts) => texts.includes(line), `the line ${line}`, ms);
  }

  /** Waits for the online list to be exactly `names`, in order. */
  async waitForOnline(names: string[]): Promise<void> {
    await this.waitFor(
      "#online li",
      (texts) => JSON.stringify(texts) === JSON.stringify(names),
      `the online list ${JSON.stringify(names)}`,
    );
  }

  lines(): Promise<string[]> {
    return this.page.locator("#messages li").allTextContents();
  }

  /**
   * Polls, in the page, the texts of the elements `selector` matches (an input's
   * value for an input) until `accept` takes them; on timeout the error says what
   * they were. `accept` runs here, on each new set of texts the page reports.
   */
  async waitFor(
    selector: string,
    accept: (texts: string[]) => boolean,
    what: string,
    ms = WAIT_MS,
  ): Promise<string[]> {
    const deadline = Date.now() + ms;
    let texts: string[] = [];
    while (true) {
      texts = await this.#texts(selector);
      if (accept(texts)) return texts;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.label}: timed out after ${ms} ms waiting for ${what}; ` +
          `${selector} is ${JSON.stringify(texts)}`);
      }
      // Let the page tell us when the texts change (or the time is up), instead of sleeping.
      await this.page.waitForFunction(
        ({ selector, before }) => {
          const now = Array.from(
            document.querySelectorAll(selector),
            (element) => (element as { value?: string }).value ?? element.textContent ?? "",
          );
          return JSON.stringify(now) !== before;
        },
        { selector, before: JSON.stringify(texts) },
        { timeout: left, polling: 50 },
      ).catch(() => {});
    }
  }

  #texts(selector: string): Promise<string[]> {
    return this.page.evaluate(
      (selector) =>
        Array.from(
          document.querySelectorAll(selector),
          (element) => (element as { value?: string }).value ?? element.textContent ?? "",
        ),
      selector,
    );
  }

  async screenshot(name: string, also?: URL): Promise<void> {
    try {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      const path = new URL(`${name}.png`, ARTIFACTS).pathname;
      const png = await this.page.screenshot({ path, timeout: 5_000 });
      if (also !== undefined) await Deno.writeFile(also, png);
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
  await using chat = await Harness.start("join");
  const alice = await chat.open("alice", "alice");
  const bob = await chat.open("bob", "bob");
  const carol = await chat.terminal("carol");

  await alice.waitForOnline(["alice (you)", "bob", "carol"]);
  await bob.waitForOnline(["alice", "bob (you)", "carol"]);
  await alice.waitForStatus(/^connected as alice - 3 online$/);
  await bob.waitForStatus(/^connected as bob - 3 online$/);
  await alice.waitForLine("* you are now alice");

  // The terminal sees the pages as ordinary sessions of the same hub.
  await carol.send({ body: { case: "who", value: {} } });
  const who = await carol.next("who");
  assert.deepEqual(who.users.map((user) => user.nickname), ["alice", "bob", "carol"]);

  for (const page of chat.pages) page.assertNoProblems();
});

Deno.test("browser - a broadcast reaches both pages and the terminal, an echo only its sender", async () => {
  await using chat = await Harness.start("chat");
  const alice = await chat.open("alice", "alice");
  const bob = await chat.open("bob", "bob");
  const carol = await chat.terminal("carol");
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
  assert.ok(!carol.received.some((m) => m.body.case === "chat" && m.body.value.content === "note to self"));

  // The real terminal client prints a broadcast exactly as the page shows it.
  const run = await runClient(
    ["--port", String(chat.server.port), "--nick", "dave", "send", "a line from client.ts"],
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, "(broadcast) dave: a line from client.ts\n");
  await alice.waitForLine(run.stdout.trimEnd());
  await bob.waitForLine(run.stdout.trimEnd());
  await alice.waitForLine("* dave left (3 online)");

  // The picture for the README: two people in browsers, one on a terminal.
  const docs = Deno.env.get("UPDATE_DOCS_SCREENSHOT") === "1" ? DOCS_SCREENSHOT : undefined;
  await alice.screenshot("conversation", docs);
  for (const page of chat.pages) page.assertNoProblems();
});

Deno.test("browser - presence: joins, renames and leaves update the list and the log", async () => {
  await using chat = await Harness.start("presence");
  const alice = await chat.open("alice", "alice");
  await alice.waitForOnline(["alice (you)"]);

  const bob = await chat.open("bob");
  const guest = /^connected as (guest-\d+) - 2 online$/.exec(await bob.waitForStatus(/guest/))![1];
  await alice.waitForLine(`* ${guest} joined (2 online)`);
  await alice.waitForOnline(["alice (you)", guest]);
  await bob.setNickname("bob");
  await alice.waitForLine(`* ${guest} is now bob`);
  await bob.waitForLine("* you are now bob");
  await alice.waitForOnline(["alice (you)", "bob"]);

  const carol = await chat.terminal("carol");
  await alice.waitForLine(`* ${carol.welcome.nickname} joined (3 online)`);
  await bob.waitForOnline(["alice", "bob (you)", "carol"]);
  await bob.waitForStatus(/^connected as bob - 3 online$/);

  await carol[Symbol.asyncDispose]();
  await alice.waitForLine("* carol left (2 online)");
  await alice.waitForOnline(["alice (you)", "bob"]);

  // A page that goes away leaves like any other client; the terminal sees it.
  const dave = await TestClient.connect(chat.server.port);
  await bob.page.close();
  const left = await dave.nextPresence(PresenceKind.LEFT);
  assert.equal(left.nickname, "bob");
  await dave[Symbol.asyncDispose]();
  await alice.waitForLine("* bob left (2 online)");
  await alice.waitForLine(`* ${dave.welcome.nickname} left (1 online)`);
  await alice.waitForOnline(["alice (you)"]);
  await alice.waitForStatus(/^connected as alice - 1 online$/);

  // A name that is taken is refused, shown as an error, and the old name stays.
  const erin = await chat.terminal("erin");
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
  await using chat = await Harness.start("escaping");
  const alice = await chat.open("alice", "alice");
  const bob = await chat.open("bob", "bob");
  const carol = await chat.terminal("carol");
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

Deno.test("browser - the page reconnects after a server restart and chats again", async () => {
  await using chat = await Harness.start("reconnect");
  const alice = await chat.open("alice", "alice");
  const bob = await chat.open("bob", "bob");
  await alice.waitForOnline(["alice (you)", "bob"]);

  await chat.restartServer();
  await alice.waitForLine("disconnected - reconnecting in", 0).catch(() => {});
  for (const page of [alice, bob]) {
    // Whichever it caught: the countdown, or already connected again.
    await page.waitForStatus(/^(disconnected, reconnecting in \d+ s|connecting|connected as)/);
  }
  // The nickname is asked for again after the reconnect, like the terminal client does.
  await alice.waitForStatus(/^connected as alice - 2 online$/, RECONNECT_MS);
  await bob.waitForStatus(/^connected as bob - 2 online$/, RECONNECT_MS);
  await alice.waitForOnline(["alice (you)", "bob"]);
  assert.ok((await alice.lines()).some((line) => line.startsWith("* reconnected after ")));
  const lines = await alice.lines();
  assert.ok(
    lines.some((line) => /^disconnected - reconnecting in \d+\.\d s$/.test(line)),
    JSON.stringify(lines),
  );

  await alice.say("back again");
  await bob.waitForLine("(broadcast) alice: back again");
  const carol = await chat.terminal("carol");
  await bob.say("welcome back");
  const event = await carol.next("chat");
  assert.equal(event.content, "welcome back");

  for (const page of chat.pages) {
    // While the server was down the browser logged failed connection attempts: expected.
    const problems = page.problems.filter((text) => !text.includes("WebSocket connection to"));
    assert.deepEqual(problems, [], `${page.label} had problems`);
  }
});

Deno.test("browser - on a phone the page fits the screen, and the keyboard reaches every control", async () => {
  await using chat = await Harness.start("phone");
  const alice = await chat.open("alice", undefined, { width: 360, height: 640 });
  const { page } = alice;

  // The message box has the focus from the start.
  assert.equal(await page.evaluate(() => document.activeElement?.id), "input");
  await page.keyboard.type("typed without a click");
  await page.keyboard.press("Enter");
  await alice.waitForLine(
    /^\(broadcast\) (guest-\d+): typed without a click$/.exec(
      (await alice.waitFor("#messages li", (t) => t.length > 0, "a line"))[0],
    )![0],
  );

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
  await alice.setNickname("a-rather-long-nickname-for-a-phone");
  await alice.say("x".repeat(300));
  await alice.waitForLine(`(broadcast) a-rather-long-nickname-for-a-phone: ${"x".repeat(300)}`);
  const width = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    client: document.documentElement.clientWidth,
  }));
  assert.ok(width.scroll <= width.client, `horizontal scroll: ${JSON.stringify(width)}`);
  alice.assertNoProblems();
});
