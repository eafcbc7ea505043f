/**
 * The page's account form and commands, in headless Chromium, against a scripted
 * server: the page itself (gen/web/page.ts) is served by Playwright, and its WebSocket
 * is answered by the test (routeWebSocket), so these need no server that knows accounts.
 *
 * Nothing sleeps: every wait polls the page, or waits for the page's next frame, under a
 * bounded timeout.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as playwright from "playwright-core";
import { AccountChange, Action, type ClientMessage, ErrorCode } from "../../gen/chat/v1/chat_pb.ts";
import { PAGE_HTML } from "../../gen/web/page.ts";
import {
  decodeClientMessage,
  encodeServerMessage,
  type ServerMessageInit,
} from "../../lib/protocol/codec.ts";
import { errorMessage } from "../../lib/protocol/error_message.ts";
import { deadline } from "../support/deadline.ts";
import { accountChanged, renamed, scriptedWelcome } from "../support/scripted_welcome.ts";
import { waitForLine } from "../support/wait_for_line.ts";

/** The DOM names the callbacks run in the page use; this file is checked without the DOM. */
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  querySelector(selector: string): {
    scrollTop: number;
    scrollHeight: number;
    clientHeight: number;
    textContent: string | null;
  } | null;
};
declare const sessionStorage: Record<string, string>;
declare const localStorage: Record<string, string>;

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const ORIGIN = "http://chat.test";
const WAIT_MS = 10_000;

type Case = NonNullable<ClientMessage["body"]["case"]>;
type BodyOf<C extends Case> = Extract<ClientMessage["body"], { case: C }>["value"];

/** One WebSocket the page opened: what it sent, and a way to answer. */
class PageSocket {
  readonly received: ClientMessage[] = [];
  #cursor = 0;
  #wake: (() => void) | undefined;

  constructor(readonly route: playwright.WebSocketRoute) {
    route.onMessage((message) => {
      if (typeof message === "string") throw new Error(`the page sent text: ${message}`);
      this.received.push(decodeClientMessage(new Uint8Array(message)));
      this.#wake?.();
    });
  }

  send(...messages: ServerMessageInit[]): void {
    for (const message of messages) this.route.send(Buffer.from(encodeServerMessage(message)));
  }

  /** The next message of this kind the page sent, skipping (but keeping) others. */
  next<C extends Case>(kind: C): Promise<BodyOf<C>> {
    return deadline(
      (async () => {
        while (true) {
          while (this.#cursor < this.received.length) {
            const message = this.received[this.#cursor++];
            if (message.body.case === kind) return message.body.value as BodyOf<C>;
          }
          await new Promise<void>((resolve) => this.#wake = resolve);
        }
      })(),
      WAIT_MS,
      () => `a ${kind} from the page; it sent ${this.received.map((m) => m.body.case)}`,
    );
  }
}

/** Chromium with one page of the chat, whose WebSockets the test answers. */
class ScriptedPage implements AsyncDisposable {
  readonly #sockets: PageSocket[] = [];
  #wake: (() => void) | undefined;
  readonly problems: string[] = [];

  private constructor(readonly browser: playwright.Browser, readonly page: playwright.Page) {
    page.on("pageerror", (error) => this.problems.push(`page error: ${error.message}`));
  }

  /** `viewport`: the window's size, 1280x720 unless told. */
  static async open(viewport?: { width: number; height: number }): Promise<ScriptedPage> {
    const browser = await playwright.chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
      timeout: 30_000,
    });
    const page = await (await browser.newContext({ viewport })).newPage();
    const scripted = new ScriptedPage(browser, page);
    await page.route(
      `${ORIGIN}/`,
      (route) => route.fulfill({ body: PAGE_HTML, contentType: "text/html; charset=utf-8" }),
    );
    await page.routeWebSocket(`ws://chat.test/ws`, (route) => {
      scripted.#sockets.push(new PageSocket(route));
      scripted.#wake?.();
    });
    await page.goto(`${ORIGIN}/`);
    return scripted;
  }

  /** The next WebSocket the page opens. */
  accept(): Promise<PageSocket> {
    return deadline(
      (async () => {
        while (this.#sockets.length === 0) await new Promise<void>((r) => this.#wake = r);
        return this.#sockets.shift()!;
      })(),
      WAIT_MS,
      "a WebSocket from the page",
    );
  }

  /** Waits for a line in the message list shown. */
  waitForLine(line: string | RegExp): Promise<void> {
    return waitForLine(this.page, line, WAIT_MS);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.browser.close();
  }
}

Deno.test("browser accounts - a registered nickname opens the Account form, whose Log in sends the password, /password changes it, and a reconnect identifies again", async () => {
  await using chat = await ScriptedPage.open();
  const first = await chat.accept();
  first.send(scriptedWelcome(1n, { passwordsAccepted: true }));
  assert.equal((await first.next("hello")).nickname, "");

  // The nickname field asks for a registered name: refused, and Log in is offered for it.
  await chat.page.fill("#nickname", "alice");
  await chat.page.press("#nickname", "Enter");
  assert.equal((await first.next("hello")).nickname, "alice");
  first.send(errorMessage(ErrorCode.NICKNAME_REGISTERED, 'Nickname "alice" is registered'));
  await chat.waitForLine(
    '! Nickname "alice" is registered - if it is yours, log in with its password',
  );
  await chat.page.waitForSelector("#account[open]", { timeout: WAIT_MS });
  assert.equal(await chat.page.inputValue("#account-nickname"), "alice");

  await chat.page.fill("#account-password", "secret123");
  await chat.page.click("#account-login");
  const login = await first.next("hello");
  assert.deepEqual([login.nickname, login.password], ["alice", "secret123"]);
  first.send(renamed(1n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
  await chat.waitForLine("* you are identified as alice");
  assert.equal(await chat.page.inputValue("#account-password"), "");

  // /password in the message box: sent, and the box empties.
  await chat.page.fill("#input", "/password secret123 better456");
  await chat.page.press("#input", "Enter");
  const change = await first.next("changePassword");
  assert.deepEqual([change.oldPassword, change.newPassword], ["secret123", "better456"]);
  assert.equal(await chat.page.inputValue("#input"), "");
  first.send(accountChanged(AccountChange.PASSWORD_CHANGED, "alice"));
  await chat.waitForLine("* the password of alice is changed");

  // Never in the tab's storage.
  const stored = await chat.page.evaluate(() =>
    JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage })
  );
  assert.ok(!stored.includes("secret123") && !stored.includes("better456"), stored);

  first.route.close();
  const second = await chat.accept();
  second.send(scriptedWelcome(2n, { passwordsAccepted: true }));
  const hello = await second.next("hello");
  assert.deepEqual([hello.nickname, hello.password], ["alice", "better456"]);
  assert.deepEqual(chat.problems, []);
});

Deno.test("browser accounts - Register registers the nickname the page has, with the password typed", async () => {
  await using chat = await ScriptedPage.open();
  const socket = await chat.accept();
  socket.send(scriptedWelcome(1n, { passwordsAccepted: true }));
  await socket.next("hello");
  await chat.page.click("#account summary");
  await chat.page.fill("#account-password", "secret123");
  await chat.page.click("#account-register");
  assert.equal((await socket.next("register")).password, "secret123");
  socket.send(accountChanged(AccountChange.REGISTERED, "guest-1"));
  await chat.waitForLine("* guest-1 is registered; log in with its password to take it next time");
  assert.deepEqual(chat.problems, []);
});

Deno.test("browser accounts - where the server does not accept passwords the form says why, and neither it nor a command sends one", async () => {
  await using chat = await ScriptedPage.open();
  const socket = await chat.accept();
  socket.send(scriptedWelcome(1n, { passwordsAccepted: false }));
  await socket.next("hello");
  const why =
    "Not sending your password: the connection to chat.test is not encrypted. Open the page over https:// (the server needs --tls-cert), or the server must allow it with --allow-plaintext-passwords.";
  await chat.page.waitForFunction(
    (text) => document.querySelectorAll("#account-note")[0]?.textContent === text,
    why,
    { timeout: WAIT_MS, polling: 50 },
  );
  assert.ok(await chat.page.isDisabled("#account-login"));
  assert.ok(await chat.page.isDisabled("#account-register"));

  await chat.page.fill("#input", "/register secret123");
  await chat.page.press("#input", "Enter");
  await chat.waitForLine(`! ${why}`);
  // The password does not stay in the box either.
  assert.equal(await chat.page.inputValue("#input"), "");
  await chat.page.fill("#input", "/ping");
  await chat.page.press("#input", "Enter");
  await socket.next("ping");
  assert.ok(!socket.received.some((m) => m.body.case === "register"));
  assert.deepEqual(chat.problems, []);
});

Deno.test("browser accounts - on a server for registered users only: no Register, Log in names the session in the header, and the form closes", async () => {
  await using chat = await ScriptedPage.open();
  const socket = await chat.accept();
  socket.send(scriptedWelcome(11n, { passwordsAccepted: true, accountRequired: true }));
  await chat.page.waitForSelector("#account[open]", { timeout: WAIT_MS });
  assert.ok(await chat.page.isHidden("#account-register"), "registration is the operator's");
  assert.equal(await chat.page.getAttribute("#nickname", "placeholder"), "");
  assert.doesNotMatch((await chat.page.textContent("#status"))!, /guest-11/);
  // Nobody is identified yet: the form says what to do, and names no guest.
  assert.match((await chat.page.textContent("#account-note"))!, /registered users only: log in/);
  assert.equal(await chat.page.getAttribute("#account-nickname", "placeholder"), "");
  await chat.page.fill("#account-nickname", "erin");
  await chat.page.fill("#account-password", "secret123");
  await chat.page.click("#account-login");
  const hello = await socket.next("hello");
  assert.deepEqual([hello.nickname, hello.password], ["erin", "secret123"]);
  socket.send(accountChanged(AccountChange.IDENTIFIED, "erin"));
  await chat.waitForLine("* you are identified as erin");
  await chat.page.waitForFunction(
    () => document.querySelector("#status")?.textContent === "connected as erin - 1 online",
    undefined,
    { timeout: WAIT_MS, polling: 50 },
  );
  await chat.page.waitForSelector("#account:not([open])", { timeout: WAIT_MS });
  assert.equal(await chat.page.getAttribute("#nickname", "placeholder"), "erin");
  assert.deepEqual(chat.problems, []);
});

Deno.test("browser accounts - a page cut while it waits for Log in does not reconnect, and says nothing alarming; Log in connects and identifies", async () => {
  await using chat = await ScriptedPage.open();
  const first = await chat.accept();
  first.send(scriptedWelcome(1n, { passwordsAccepted: true, accountRequired: true }));
  await chat.page.waitForSelector("#account[open]", { timeout: WAIT_MS });
  first.send({
    body: {
      case: "error",
      value: {
        code: ErrorCode.AUTH_REQUIRED,
        message: "Only registered users may use this server, and you did not identify within 30 s",
        fatal: true,
      },
    },
  });
  first.route.close();
  await chat.page.waitForFunction(
    () =>
      document.querySelector("#status")?.textContent === "registered users only: log in to connect",
    undefined,
    { timeout: WAIT_MS, polling: 50 },
  );
  const lines = await chat.page.locator("#messages li.error").allTextContents();
  assert.deepEqual(lines, []);
  await chat.page.fill("#account-nickname", "erin");
  await chat.page.fill("#account-password", "secret123");
  await chat.page.click("#account-login");
  // Only now a connection: its Hello, first, carries the password.
  const second = await chat.accept();
  second.send(scriptedWelcome(2n, { passwordsAccepted: true, accountRequired: true }));
  const hello = await second.next("hello");
  assert.deepEqual([hello.nickname, hello.password], ["erin", "secret123"]);
  assert.equal(second.received[0].body.case, "hello");
  assert.deepEqual(chat.problems, []);
});

for (const viewport of [{ width: 390, height: 844 }, { width: 1280, height: 560 }]) {
  Deno.test(`browser accounts - the message list stays at its bottom when the Account form opens above it (${viewport.width}x${viewport.height})`, async () => {
    await using chat = await ScriptedPage.open(viewport);
    const socket = await chat.accept();
    socket.send(scriptedWelcome(1n, { passwordsAccepted: true }));
    await socket.next("hello");
    await socket.next("join");
    socket.send({ body: { case: "joined", value: { room: "#lobby", members: 2 } } });
    for (let i = 1; i <= 60; i++) {
      socket.send({
        body: {
          case: "chat",
          value: {
            action: Action.BROADCAST,
            content: `line ${i}`,
            fromNickname: "bob",
            fromSessionId: 2n,
            eventId: BigInt(i),
          },
        },
      });
    }
    await chat.waitForLine(/bob: line 60$/);
    await chat.page.fill("#nickname", "alice");
    await chat.page.press("#nickname", "Enter");
    await socket.next("hello");
    socket.send(errorMessage(ErrorCode.NICKNAME_REGISTERED, 'Nickname "alice" is registered'));
    await chat.page.waitForSelector("#account[open]", { timeout: WAIT_MS });
    await chat.page.fill("#account-password", "secret123");
    await chat.page.click("#account-login");
    await socket.next("hello");
    socket.send(renamed(1n, "alice"), accountChanged(AccountChange.IDENTIFIED, "alice"));
    await chat.waitForLine("* you are identified as alice");
    // The newest line is in sight: the list is scrolled to its end.
    await chat.page.waitForFunction(
      () => {
        const list = document.querySelector("#messages")!;
        return list.scrollHeight - list.scrollTop - list.clientHeight < 2;
      },
      undefined,
      { timeout: WAIT_MS, polling: 50 },
    );
    assert.deepEqual(chat.problems, []);
  });
}

Deno.test("browser accounts - on a phone (390 px) Join is in reach, and each account label sits beside its field", async () => {
  await using chat = await ScriptedPage.open({ width: 390, height: 844 });
  const socket = await chat.accept();
  socket.send(scriptedWelcome(1n, { passwordsAccepted: true }));
  await socket.next("hello");
  await chat.page.click("#account summary");
  const join = (await chat.page.locator("#join").boundingBox())!;
  assert.ok(join.x >= 0 && join.x + join.width <= 390, `Join at ${join.x}+${join.width}`);
  for (const field of ["account-nickname", "account-password"]) {
    const label = (await chat.page.locator(`label[for="${field}"]`).boundingBox())!;
    const input = (await chat.page.locator(`#${field}`).boundingBox())!;
    const middle = input.y + input.height / 2;
    assert.ok(label.y <= middle && middle <= label.y + label.height, `${field}: on one row`);
    assert.ok(label.x < input.x, `${field}: label first`);
  }
  assert.deepEqual(chat.problems, []);
});
