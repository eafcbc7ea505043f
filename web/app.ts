/// <reference lib="dom" />
/**
 * The browser client: the page served at `/` by the server's HTTP gateway. It
 * speaks the same protocol as the terminal client over the WebSocket at `/ws`,
 * one ClientMessage / ServerMessage per binary message, and renders events with
 * the terminal's own formatter, so both show the same lines.
 *
 * Built into gen/web/page.ts by scripts/build_web.ts; the markup is web/index.html.
 * Every piece of text from the network goes into the page through textContent only.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  Action,
  ClientMessageSchema,
  ErrorCode,
  PresenceKind,
  type ServerMessage,
  ServerMessageSchema,
  type Welcome,
} from "../gen/chat/v1/chat_pb.ts";
import { formatServerMessage, formatWelcome } from "../lib/ui/format_message.ts";
import { parseInputLine } from "../lib/ui/input_line.ts";
import { printable } from "../lib/ui/printable.ts";
import { createStyle } from "../lib/ui/style.ts";
import { backoffDelay } from "../lib/client/backoff.ts";
import { utf8Length } from "../lib/protocol/utf8_length.ts";
import { VERSION } from "../lib/version.ts";

const CLIENT_NAME = `deno-chat-web/${VERSION}`;
/** Ping after this long without sending anything: the server cuts clients idle for 120 s. */
const KEEPALIVE_MS = 30_000;
/** Something that accepts the WebSocket but never welcomes is a failed attempt. */
const WELCOME_TIMEOUT_MS = 10_000;
/** Only a connection up this long resets the backoff: the server is healthy again. */
const STABLE_CONNECTION_MS = 10_000;
/** The page keeps this many lines; older ones are dropped, as a terminal's scrollback does. */
const MAX_LINES = 2_000;
/** Keepalive nonces, apart from the ones /ping uses, as in the terminal client. */
const KEEPALIVE_NONCE_BASE = 1n << 62n;

const HELP_LINES = [
  "Type a line and press Enter to send it in the chosen mode. Commands:",
  "  /echo [text]       switch to echo mode, or send one echo",
  "  /broadcast [text]  switch to broadcast mode, or send one broadcast",
  "  /nick NAME         change your nickname",
  "  /who               list who is online",
  "  /ping              measure the round trip to the server",
  "  //text             send a line that starts with /",
];

type LineKind = "echo" | "broadcast" | "notice" | "error";

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

const ui = {
  status: element<HTMLParagraphElement>("status"),
  messages: element<HTMLOListElement>("messages"),
  online: element<HTMLUListElement>("online"),
  onlineCount: element<HTMLSpanElement>("online-count"),
  composer: element<HTMLFormElement>("composer"),
  mode: element<HTMLSelectElement>("mode"),
  input: element<HTMLInputElement>("input"),
  send: element<HTMLButtonElement>("send"),
  nicknameForm: element<HTMLFormElement>("nickname-form"),
  nickname: element<HTMLInputElement>("nickname"),
  nicknameSet: element<HTMLButtonElement>("nickname-set"),
};

const plainStyle = createStyle(false);

/** The connection and what the server told us on it; reset on every reconnect. */
let socket: WebSocket | undefined;
let welcome: Welcome | undefined;
let online = 0;
/** Who is online, by session id, in order of arrival. */
const users = new Map<bigint, string>();
/** The nickname the server last confirmed; asked for again after a reconnect. */
let wantedNickname = "";
/** WhoRequests the page sent by itself: their answers fill the list without a line. */
let silentWho = 0;

let nextSeq = 1n;
/**
 * The text of each chat line sent and not yet seen back, by client_seq: a line the
 * server refuses goes back into the box rather than being lost.
 */
const unconfirmed = new Map<bigint, string>();
let nextPingNonce = 1n;
let nextKeepaliveNonce = KEEPALIVE_NONCE_BASE;
/** /ping nonces waiting for their Pong, with when they were sent. */
const pings = new Map<bigint, number>();

let failures = 0;
let disconnectedAt: number | undefined;
let stopped = false;
let keepaliveTimer: ReturnType<typeof setTimeout> | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let countdownTimer: ReturnType<typeof setInterval> | undefined;

// ---------------------------------------------------------------- rendering

function addLine(text: string, kind: LineKind): void {
  const list = ui.messages;
  // Follow the conversation only if the reader has not scrolled up to read older lines.
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  list.append(item);
  while (list.childElementCount > MAX_LINES) list.firstElementChild!.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function lineKind(message: ServerMessage): LineKind {
  const body = message.body;
  if (body.case === "chat") return body.value.action === Action.ECHO ? "echo" : "broadcast";
  return body.case === "error" ? "error" : "notice";
}

function setStatus(state: "connecting" | "connected" | "disconnected", text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  const connected = state === "connected";
  ui.send.disabled = !connected;
  ui.nicknameSet.disabled = !connected;
}

function showConnected(): void {
  if (welcome === undefined) return;
  setStatus("connected", formatWelcome({ ...welcome, online }));
}

function renderOnline(): void {
  ui.onlineCount.textContent = `(${online})`;
  const items = [...users].map(([sessionId, nickname]) => {
    const item = document.createElement("li");
    item.textContent = printable(nickname);
    if (sessionId === welcome?.sessionId) {
      item.className = "you";
      const you = document.createElement("span");
      you.textContent = " (you)";
      item.append(you);
    }
    return item;
  });
  ui.online.replaceChildren(...items);
}

// ---------------------------------------------------------------- sending

type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;

function send(message: ClientMessageInit): boolean {
  if (socket === undefined || welcome === undefined) return false;
  socket.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, message)));
  armKeepalive();
  return true;
}

/** (Re)starts the idle timer: a Ping goes out only after 30 s without sending anything. */
function armKeepalive(): void {
  clearTimeout(keepaliveTimer);
  keepaliveTimer = setTimeout(() => {
    send({ body: { case: "ping", value: { nonce: nextKeepaliveNonce++ } } });
  }, KEEPALIVE_MS);
}

function currentMode(): Action {
  return ui.mode.value === "echo" ? Action.ECHO : Action.BROADCAST;
}

function submitLine(line: string): boolean {
  const command = parseInputLine(line, currentMode());
  switch (command.kind) {
    case "empty":
      return true;
    case "chat": {
      const bytes = utf8Length(command.text);
      if (welcome !== undefined && bytes > welcome.maxContentBytes) {
        // As the server would answer, but the text stays in the box to be shortened.
        addLine(
          `! Message is ${bytes} bytes long; the limit is ${welcome.maxContentBytes}`,
          "error",
        );
        return false;
      }
      const value = { content: command.text, action: command.action, clientSeq: nextSeq++ };
      if (!send({ body: { case: "chat", value } })) return false;
      unconfirmed.set(value.clientSeq, line);
      return true;
    }
    case "mode":
      ui.mode.value = command.action === Action.ECHO ? "echo" : "broadcast";
      return true;
    case "nick":
      return send({ body: { case: "hello", value: { nickname: command.nickname } } });
    case "who":
      return send({ body: { case: "who", value: {} } });
    case "ping": {
      const nonce = nextPingNonce++;
      pings.set(nonce, performance.now());
      return send({ body: { case: "ping", value: { nonce } } });
    }
    case "help":
      for (const text of HELP_LINES) addLine(text, "notice");
      return true;
    case "quit":
      stop();
      return true;
    case "invalid":
      addLine(`! ${command.message}`, "error");
      return false;
  }
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  // Keep the text when it could not be sent, to send it once reconnected.
  if (submitLine(ui.input.value)) ui.input.value = "";
  ui.input.focus();
});

ui.nicknameForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nickname = ui.nickname.value.trim();
  if (nickname === "") return;
  send({ body: { case: "hello", value: { nickname, client: CLIENT_NAME } } });
  ui.input.focus();
});

// ---------------------------------------------------------------- receiving

/**
 * Puts a refused line back into the box, or, if something new was typed meanwhile,
 * into the log, where it can be copied. The server answers each chat line in order, so
 * the older lines still unconfirmed were accepted: their copies go too.
 */
function restoreRefused(clientSeq: bigint): void {
  const line = unconfirmed.get(clientSeq);
  if (line === undefined) return;
  for (const seq of unconfirmed.keys()) if (seq <= clientSeq) unconfirmed.delete(seq);
  if (ui.input.value === "") ui.input.value = line;
  else addLine(`! not sent: ${line}`, "error");
}

function receive(message: ServerMessage): void {
  const body = message.body;
  switch (body.case) {
    case "welcome":
      return welcomed(body.value);
    case "chat":
      if (body.value.fromSessionId === welcome?.sessionId) unconfirmed.delete(body.value.clientSeq);
      break;
    case "presence": {
      const { kind, sessionId, nickname } = body.value;
      online = body.value.online;
      if (kind === PresenceKind.LEFT) users.delete(sessionId);
      else if (kind === PresenceKind.JOINED || kind === PresenceKind.RENAMED) {
        users.set(sessionId, nickname);
      }
      if (kind === PresenceKind.RENAMED && sessionId === welcome?.sessionId) {
        welcome.nickname = nickname;
        wantedNickname = nickname;
        ui.nickname.value = "";
        ui.nickname.placeholder = nickname;
      }
      renderOnline();
      showConnected();
      break;
    }
    case "who":
      users.clear();
      for (const user of body.value.users) users.set(user.sessionId, user.nickname);
      online = users.size;
      renderOnline();
      showConnected();
      if (silentWho > 0) {
        silentWho--;
        return;
      }
      break;
    case "pong": {
      const sentAt = pings.get(body.value.nonce);
      if (sentAt === undefined) return; // a keepalive
      pings.delete(body.value.nonce);
      addLine(`* pong in ${(performance.now() - sentAt).toFixed(1)} ms`, "notice");
      return;
    }
    case "error": {
      const code = body.value.code;
      if (
        (code === ErrorCode.NICKNAME_TAKEN || code === ErrorCode.NICKNAME_INVALID) &&
        welcome !== undefined && welcome.nickname !== wantedNickname
      ) {
        // The name asked for after a reconnect was taken meanwhile: stop asking for it.
        wantedNickname = "";
      }
      if (!body.value.fatal) restoreRefused(body.value.clientSeq);
      break;
    }
  }
  const line = formatServerMessage(message, welcome?.sessionId, plainStyle);
  if (line !== undefined) addLine(line, lineKind(message));
}

function welcomed(value: Welcome): void {
  welcome = value;
  online = value.online;
  users.clear();
  users.set(value.sessionId, value.nickname);
  ui.nickname.placeholder = value.nickname;
  renderOnline();
  showConnected();
  if (disconnectedAt !== undefined) {
    // The server keeps no history: say plainly that the gap is gone.
    const gap = ((Date.now() - disconnectedAt) / 1000).toFixed(1);
    addLine(`* reconnected after ${gap} s; messages sent meanwhile are not shown`, "notice");
    disconnectedAt = undefined;
  }
  // As the terminal client: the client name for the server's log, and the nickname again.
  send({ body: { case: "hello", value: { nickname: wantedNickname, client: CLIENT_NAME } } });
  // Welcome carries only the count; the list comes from a WhoRequest, then presence.
  silentWho++;
  send({ body: { case: "who", value: {} } });
}

// ---------------------------------------------------------------- connection

function connect(): void {
  clearInterval(countdownTimer);
  // Relative to the page, so a proxy that serves the page under a path still works.
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  setStatus("connecting", `connecting to ${url.host} ...`);

  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  socket = ws;
  let openedAt: number | undefined;
  const welcomeTimer = setTimeout(() => ws.close(), WELCOME_TIMEOUT_MS);

  ws.addEventListener("open", () => {
    openedAt = Date.now();
  });
  ws.addEventListener("message", (event) => {
    if (!(event.data instanceof ArrayBuffer)) return; // the protocol is binary only
    let message: ServerMessage;
    try {
      message = fromBinary(ServerMessageSchema, new Uint8Array(event.data));
    } catch {
      addLine("! the server sent a message this page cannot read", "error");
      return;
    }
    if (message.body.case === "welcome") clearTimeout(welcomeTimer);
    receive(message);
  });
  ws.addEventListener("close", () => {
    clearTimeout(welcomeTimer);
    clearTimeout(keepaliveTimer);
    const wasWelcomed = welcome !== undefined;
    socket = undefined;
    welcome = undefined;
    pings.clear();
    // Whether the server got them is unknown now; none can be refused any more.
    unconfirmed.clear();
    silentWho = 0;
    // Who is online is unknown until the next Welcome; a stale list would mislead.
    users.clear();
    online = 0;
    renderOnline();
    if (stopped) return;
    const stable = wasWelcomed && openedAt !== undefined &&
      Date.now() - openedAt >= STABLE_CONNECTION_MS;
    failures = stable ? 1 : failures + 1;
    const delay = backoffDelay(failures);
    if (wasWelcomed) {
      disconnectedAt = Date.now();
      addLine(`disconnected - reconnecting in ${(delay / 1000).toFixed(1)} s`, "error");
    }
    scheduleReconnect(delay);
  });
}

/** Waits `delay` ms, counting down in the status line, then connects again. */
function scheduleReconnect(delay: number): void {
  const at = Date.now() + delay;
  const tick = () => {
    const seconds = Math.max(1, Math.ceil((at - Date.now()) / 1000));
    setStatus("disconnected", `disconnected, reconnecting in ${seconds} s`);
  };
  tick();
  countdownTimer = setInterval(tick, 250);
  retryTimer = setTimeout(connect, delay);
}

/** /quit: leave and stay away until the page is reloaded. */
function stop(): void {
  stopped = true;
  clearTimeout(retryTimer);
  clearInterval(countdownTimer);
  socket?.close();
  setStatus("disconnected", "disconnected - reload the page to join again");
}

// A phone that wakes up or comes back online should not wait out a long backoff.
function reconnectNow(): void {
  if (stopped || socket !== undefined) return;
  clearTimeout(retryTimer);
  connect();
}
globalThis.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});

connect();
ui.input.focus();
