/// <reference lib="dom" />
/**
 * The browser client: the page served at `/` by the server's HTTP gateway. It
 * speaks the same protocol as the terminal client over the WebSocket at `/ws`,
 * one ClientMessage / ServerMessage per binary message, and renders events with
 * the terminal's own formatter, so both show the same lines.
 *
 * Rooms and private conversations are views: a list on the left, one message list each, the
 * one shown on the right with its members. A RoomTracker (shared with the terminal client)
 * keeps, per room, the last message shown, so that the history a join brings, live messages
 * that come before it, and what a resume after a reconnect brings are each shown once, in
 * order. Scrolling to the top of a room (or its "Earlier messages" button) asks for older
 * history, which goes in above what is shown.
 *
 * Built into gen/web/page.ts by scripts/build_web.ts; the markup is web/index.html.
 * Every piece of text from the network goes into the page through textContent only.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  AccountChange,
  type AccountChanged,
  Action,
  type ChatEvent,
  ChatSchema,
  ClientMessageSchema,
  type Error as ErrorMessage,
  ErrorCode,
  type HistoryEnd,
  type Presence,
  PresenceKind,
  type RoomJoined,
  type RoomParted,
  type ServerMessage,
  ServerMessageSchema,
  type Welcome,
  type WhoResponse,
} from "../gen/chat/v1/chat_pb.ts";
import {
  formatChatEvent,
  formatGap,
  formatServerMessage,
  formatWelcome,
} from "../lib/ui/format_message.ts";
import { ACCOUNT_HELP_LINES, parseInputLine } from "../lib/ui/input_line.ts";
import { passwordWithheldText } from "../lib/ui/account_text.ts";
import { printable } from "../lib/ui/printable.ts";
import { createStyle } from "../lib/ui/style.ts";
import { backoffDelay } from "../lib/client/backoff.ts";
import { RoomTracker, type TrackedOutput } from "../lib/client/room_tracker.ts";
import {
  type AnsweredRequest as Awaiting,
  ERRORS_ANSWERING,
  NICKNAME_REFUSED,
} from "../lib/client/answered_request.ts";
import { LOBBY, roomKey, roomNameProblem } from "../lib/protocol/room_name.ts";
import { utf8Length } from "../lib/protocol/utf8_length.ts";
import { VERSION } from "../lib/version.ts";

const CLIENT_NAME = `deno-chat-web/${VERSION}`;
/** Ping after this long without sending anything: the server cuts clients idle for 120 s. */
const KEEPALIVE_MS = 30_000;
/** Something that accepts the WebSocket but never welcomes is a failed attempt. */
const WELCOME_TIMEOUT_MS = 10_000;
/** Only a connection up this long resets the backoff: the server is healthy again. */
const STABLE_CONNECTION_MS = 10_000;
/**
 * Each view keeps this many lines; older ones are dropped, as a terminal's scrollback does
 * (while earlier history is being put in above, none is).
 */
const MAX_LINES = 2_000;
/** Keepalive nonces, apart from the ones /ping uses, as in the terminal client. */
const KEEPALIVE_NONCE_BASE = 1n << 62n;
/** Messages asked for when the reader scrolls to the top of a room or asks for earlier ones. */
const HISTORY_PAGE = 50;
/** Scrolled this close to the top of a room, the page asks for earlier messages. */
const TOP_MARGIN_PX = 40;
/** Scrolled this close to the bottom, the view follows new lines. */
const BOTTOM_MARGIN_PX = 40;

const HELP_LINES = [
  "Type a line and press Enter to send it to the room shown, or in a private conversation to",
  "that person. Pick a room or a conversation on the left. Commands:",
  "  /join #room        join a room (made if new) and show it",
  "  /part [#room]      leave a room (the one shown if none is named)",
  "  /rooms             list the rooms and how many are in each",
  "  /who [#room]       list who is in the room shown, or in another",
  "  /msg NICK text     send a private message to NICK",
  "  /history [count]   show earlier messages of the room shown (or scroll up)",
  "  /echo [text]       switch to echo mode, or send one echo",
  "  /broadcast [text]  switch to broadcast mode, or send one broadcast",
  "  /nick NAME         change your nickname",
  "  /ping              measure the round trip to the server",
  "  /quit              leave until the page is reloaded",
  "  //text             send a line that starts with /",
  ...ACCOUNT_HELP_LINES,
  "The Account form above does the same as /identify and /register.",
];

type LineKind = "echo" | "broadcast" | "private" | "notice" | "error";

/** A room, a private conversation, or the view shown when there is neither. */
interface View {
  /** A room's key ("#dev"), "@" and a correspondent's nickname in lower case, or "" for none. */
  key: string;
  readonly kind: "room" | "private" | "none";
  /** The room's name, or the correspondent's nickname as last seen. */
  title: string;
  /** Its message list, in #views; only the shown one is visible, with the id "messages". */
  readonly list: HTMLOListElement;
  /** Its entry in the list on the left (none for the "none" view). */
  entry: ViewEntry | undefined;
  /** Messages that came while another view was shown. */
  unread: number;
  /** A room's members, by session id, in order of arrival; empty while unknown. */
  members: Map<bigint, string>;
  /** The server keeps older messages of the room than the page shows. */
  moreHistory: boolean;
  /** The room's history could not be read. */
  historyUnavailable: boolean;
  /** Earlier messages asked for: how many came so far (they go in above); undefined: none asked. */
  paging: number | undefined;
  /** The join sent for this room after a reconnect is a resume: what comes was missed. */
  resuming: boolean;
  /** A part was sent and RoomParted has not come yet: no longer listed. */
  leaving: boolean;
  /** Followed its newest line when last shown. */
  atBottom: boolean;
  /** Where it was scrolled to when last shown. */
  scrollTop: number;
}

interface ViewEntry {
  readonly item: HTMLLIElement;
  readonly select: HTMLButtonElement;
  readonly name: HTMLSpanElement;
  readonly unread: HTMLSpanElement;
  readonly close: HTMLButtonElement;
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

const ui = {
  status: element<HTMLParagraphElement>("status"),
  views: element<HTMLDivElement>("views"),
  viewHeading: element<HTMLHeadingElement>("view-heading"),
  historyMore: element<HTMLButtonElement>("history-more"),
  historyNote: element<HTMLSpanElement>("history-note"),
  rooms: element<HTMLUListElement>("rooms"),
  privateSection: element<HTMLDivElement>("private-section"),
  privates: element<HTMLUListElement>("privates"),
  joinForm: element<HTMLFormElement>("join-form"),
  joinRoom: element<HTMLInputElement>("join-room"),
  join: element<HTMLButtonElement>("join"),
  membersTitle: element<HTMLSpanElement>("members-title"),
  online: element<HTMLUListElement>("online"),
  onlineCount: element<HTMLSpanElement>("online-count"),
  membersNote: element<HTMLParagraphElement>("members-note"),
  composer: element<HTMLFormElement>("composer"),
  mode: element<HTMLSelectElement>("mode"),
  input: element<HTMLInputElement>("input"),
  send: element<HTMLButtonElement>("send"),
  nicknameForm: element<HTMLFormElement>("nickname-form"),
  nickname: element<HTMLInputElement>("nickname"),
  nicknameSet: element<HTMLButtonElement>("nickname-set"),
  account: element<HTMLDetailsElement>("account"),
  accountForm: element<HTMLFormElement>("account-form"),
  accountNickname: element<HTMLInputElement>("account-nickname"),
  accountPassword: element<HTMLInputElement>("account-password"),
  accountLogin: element<HTMLButtonElement>("account-login"),
  accountRegister: element<HTMLButtonElement>("account-register"),
  accountNote: element<HTMLParagraphElement>("account-note"),
};

const plainStyle = createStyle(false);

/** The connection and what the server told us on it; reset on every reconnect. */
let socket: WebSocket | undefined;
let welcome: Welcome | undefined;
/** Sessions online in the whole chat, as the server last said. */
let online = 0;
/**
 * What a reload of the page keeps, in this tab's sessionStorage: the nickname and the rooms.
 * Private conversations are not kept, anywhere.
 */
interface SavedSession {
  nickname: string;
  rooms: string[];
  current: string | undefined;
}
const SAVED_SESSION = "deno-chat-session";
const saved = readSavedSession();

/** The nickname the server last confirmed; asked for again after a reconnect, or a reload. */
let wantedNickname = saved.nickname;
/**
 * The password of wantedNickname's account, sent with it after every Welcome that accepts
 * passwords. In memory only, never in sessionStorage: a reload forgets it.
 */
let accountPassword = "";
/** The nickname the server last said is registered, when the page asked for it: Log in's default. */
let registeredNickname: string | undefined;
/** The nickname each Hello sent asked for, oldest first, to tell which one an answer is about. */
let askedNicknames: string[] = [];
/** The passwords that hold once each account request sent succeeds, oldest first. */
let accountRequests: { kind: "identify" | "account"; nickname: string; password: string }[] = [];
/**
 * The server admits registered users only and the page has no password to send: the Hello
 * and the joins wait for Log in (anything else would end the connection).
 */
let waitingForLogin = false;
/**
 * The server admits registered users only: whether this session has identified (and so is
 * in the chat under its name), and, after a Welcome that waited for Log in in vain, whether
 * the page waits offline for Log in before it connects again (never a reconnect loop).
 */
let admitted = false;
let loginBeforeConnect = false;
/** The last Welcome said the server admits registered users only (it holds while offline). */
let accountRequired = false;

/** The rooms to join again after a reload, at the first Welcome. */
let roomsToRestore = saved.rooms;

/** The rooms the page is in, the last message shown in each; it outlives connections. */
const tracker = new RoomTracker();

/** Requests sent and not answered, oldest first; cleared with the connection. */
let awaiting: Awaiting[] = [];

let nextSeq = 1n;
/**
 * The text of each chat line sent and not yet seen back, by client_seq: a line the
 * server refuses goes back into the box rather than being lost.
 */
const unconfirmed = new Map<bigint, string>();
/**
 * Private messages typed with /msg, by client_seq: the view they were typed in. When the
 * sender's copy comes and that view is still shown, the conversation is shown instead.
 */
const privateOrigins = new Map<bigint, View>();
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

// ---------------------------------------------------------------- views

/** Rooms (listed as the tracker orders them) and private conversations, by key. */
const views = new Map<string, View>();
/**
 * A list shown at its bottom stays there when its box changes size (the Account form opens
 * above it, the phone's keyboard comes up): the browser would keep its scrollTop, leaving
 * the newest lines below the fold, and the reader no longer following.
 */
const listSizes = new ResizeObserver(() => {
  if (current.atBottom) current.list.scrollTop = current.list.scrollHeight;
});

/** Shown when the page is in no room and has no conversation open. */
const noView = makeView("", "none", "No room");
let current: View = noView;

function makeView(key: string, kind: View["kind"], title: string): View {
  const list = document.createElement("ol");
  list.className = "messages";
  list.setAttribute("role", "log");
  list.setAttribute("aria-labelledby", "view-heading");
  // Focusable so that the keyboard can scroll it.
  list.tabIndex = 0;
  list.hidden = true;
  ui.views.append(list);
  const view: View = {
    key,
    kind,
    title,
    list,
    entry: undefined,
    unread: 0,
    members: new Map(),
    moreHistory: false,
    historyUnavailable: false,
    paging: undefined,
    resuming: false,
    leaving: false,
    atBottom: true,
    scrollTop: 0,
  };
  list.addEventListener("scroll", () => {
    if (view !== current) return;
    // Where the reader left it: at the bottom, it follows new lines and layout changes.
    view.atBottom = nearBottom(list);
    pageOnScroll(view);
  });
  listSizes.observe(list);
  if (kind !== "none") {
    view.entry = makeEntry(view);
    views.set(key, view);
  }
  return view;
}

function makeEntry(view: View): ViewEntry {
  const item = document.createElement("li");
  const select = document.createElement("button");
  select.type = "button";
  select.className = "view-select";
  select.dataset.view = view.key;
  const name = document.createElement("span");
  name.className = "name";
  const unread = document.createElement("span");
  unread.className = "unread";
  unread.hidden = true;
  select.append(name, unread);
  select.addEventListener("click", () => {
    if (views.get(view.key) === view) show(view);
  });
  const close = document.createElement("button");
  close.type = "button";
  close.className = "view-close";
  close.dataset.view = view.key;
  close.textContent = "\u00d7";
  close.addEventListener("click", () => {
    if (views.get(view.key) !== view) return;
    if (view.kind === "room") leaveRoom(view.key);
    else closePrivate(view);
    ui.input.focus();
  });
  item.append(select, close);
  item.className = view.kind;
  return { item, select, name, unread, close };
}

function roomView(room: string): View {
  return views.get(room) ?? makeView(room, "room", room);
}

/** The conversation with `nickname`, opened if need be, named as the server last spelled it. */
function privateView(nickname: string): View {
  const key = `@${nickname.toLowerCase()}`;
  const view = views.get(key) ?? makeView(key, "private", nickname);
  view.title = nickname;
  return view;
}

function privateViews(): View[] {
  return [...views.values()].filter((view) => view.kind === "private");
}

/** Every view with lines: the rooms (leaving ones too), the conversations, and "none". */
function allViews(): View[] {
  return [...views.values(), noView];
}

/** The view to show when the one shown goes: the tracker's room, else a conversation. */
function fallbackView(): View {
  const room = tracker.current;
  const view = room === undefined ? undefined : views.get(room);
  if (view !== undefined && !view.leaving) return view;
  return privateViews()[0] ?? noView;
}

/** Forgets the views of rooms the page is no longer in or leaving. */
function pruneRoomViews(): void {
  for (const view of [...views.values()]) {
    if (view.kind === "room" && !view.leaving && !tracker.has(view.key)) removeView(view);
  }
}

function removeView(view: View): void {
  views.delete(view.key);
  view.list.remove();
  view.entry?.item.remove();
  if (view === current) show(fallbackView(), false);
}

/** Shows `view`: its lines, its members, its name; a room becomes where lines are sent. */
function show(view: View, focusInput = false): void {
  const previous = current;
  if (previous !== view) {
    previous.atBottom = nearBottom(previous.list);
    previous.scrollTop = previous.list.scrollTop;
    previous.list.hidden = true;
    previous.list.removeAttribute("id");
    previous.list.removeAttribute("data-testid");
    current = view;
    view.list.id = "messages";
    view.list.dataset.testid = "messages";
    view.list.hidden = false;
    view.list.scrollTop = view.atBottom ? view.list.scrollHeight : view.scrollTop;
  }
  view.unread = 0;
  if (view.kind === "room") {
    tracker.select(view.key);
    // Who is in it now; presence keeps the list up to date from there.
    if (previous !== view) askMembers(view.key);
  }
  render();
  if (focusInput) ui.input.focus();
}

function nearBottom(list: HTMLElement): boolean {
  return list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_MARGIN_PX;
}

interface LineOptions {
  /** A message from history: dated, and set apart. */
  history?: boolean;
  /** When the message was sent, for the line's tooltip. */
  sentAt?: bigint;
  /** Counts as unread when its view is not shown. */
  unread?: boolean;
  /** Earlier history asked for: goes in above what the view shows. */
  above?: boolean;
}

function addLine(view: View, text: string, kind: LineKind, options: LineOptions = {}): void {
  const list = view.list;
  const shown = view === current;
  const item = document.createElement("li");
  item.className = options.history ? `${kind} history` : kind;
  item.textContent = text;
  if (options.sentAt !== undefined && options.sentAt > 0n) {
    item.title = new Date(Number(options.sentAt)).toLocaleString();
  }
  if (options.above && view.paging !== undefined) {
    // Oldest first, each below the ones of its page that came before it; the reader's
    // place stays where it was.
    const height = list.scrollHeight;
    list.insertBefore(item, list.children[view.paging] ?? null);
    view.paging++;
    if (shown) list.scrollTop += list.scrollHeight - height;
    return;
  }
  // Follow the conversation only if the reader has not scrolled up to read older lines.
  const follow = shown && view.atBottom;
  list.append(item);
  if (view.paging === undefined) {
    while (list.childElementCount > MAX_LINES) list.firstElementChild!.remove();
  }
  if (follow) list.scrollTop = list.scrollHeight;
  if (options.unread && !shown && view.kind !== "none") {
    view.unread++;
    scheduleRender();
  }
}

/** A line in every view: what happened to the connection concerns them all. */
function addLineEverywhere(text: string, kind: LineKind): void {
  for (const view of allViews()) addLine(view, text, kind);
}

let renderScheduled = false;

/** Renders once after the current task: a resume can bring a thousand unread messages. */
function scheduleRender(): void {
  if (renderScheduled) return;
  renderScheduled = true;
  queueMicrotask(render);
}

function render(): void {
  renderScheduled = false;
  renderViewList();
  renderMembers();
  renderViewBar();
  renderComposer();
  saveSession();
}

function readSavedSession(): SavedSession {
  try {
    const value = JSON.parse(sessionStorage.getItem(SAVED_SESSION) ?? "{}");
    return {
      nickname: typeof value.nickname === "string" ? value.nickname : "",
      rooms: Array.isArray(value.rooms)
        ? value.rooms.filter((room: unknown) =>
          typeof room === "string" && room !== "" && roomNameProblem(room) === undefined
        )
        : [],
      current: typeof value.current === "string" ? value.current : undefined,
    };
  } catch {
    // Storage off (a private window's settings) or spoiled: start afresh.
    return { nickname: "", rooms: [], current: undefined };
  }
}

function saveSession(): void {
  const session: SavedSession = {
    nickname: wantedNickname,
    // Until the rooms of a reload are joined again, they are still the ones to keep.
    rooms: roomsToRestore.length > 0 ? roomsToRestore : tracker.rooms,
    current: current.kind === "room" ? current.key : saved.current,
  };
  try {
    sessionStorage.setItem(SAVED_SESSION, JSON.stringify(session));
  } catch {
    // Storage off or full: a reload starts afresh, as before.
  }
}

function renderViewList(): void {
  const rooms = tracker.rooms.map(roomView).filter((view) => !view.leaving);
  const privates = privateViews();
  for (const view of [...rooms, ...privates]) renderEntry(view);
  placeEntries(ui.rooms, rooms);
  placeEntries(ui.privates, privates);
  ui.privateSection.hidden = privates.length === 0;
  let unread = 0;
  for (const view of views.values()) unread += view.unread;
  document.title = unread > 0 ? `(${unread}) deno-chat` : "deno-chat";
}

function renderEntry(view: View): void {
  const entry = view.entry!;
  const title = printable(view.title);
  entry.name.textContent = title;
  if (view === current) entry.select.setAttribute("aria-current", "true");
  else entry.select.removeAttribute("aria-current");
  const joining = view.kind === "room" && tracker.isJoining(view.key);
  entry.item.classList.toggle("joining", joining);
  entry.select.setAttribute("aria-busy", String(joining));
  entry.unread.hidden = view.unread === 0;
  if (view.unread > 0) {
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = " unread";
    entry.unread.replaceChildren(String(view.unread), hidden);
  }
  const label = view.kind === "room" ? `Leave ${title}` : `Close the conversation with ${title}`;
  entry.close.setAttribute("aria-label", label);
  entry.close.title = label;
}

/** Puts the entries in their list in order, moving none that is in place (a focused one). */
function placeEntries(list: HTMLUListElement, ordered: View[]): void {
  const wanted = ordered.map((view) => view.entry!.item);
  const present = [...list.children];
  if (wanted.length === present.length && wanted.every((item, i) => item === present[i])) return;
  for (const item of present) if (!wanted.includes(item as HTMLLIElement)) item.remove();
  wanted.forEach((item, i) => {
    if (list.children[i] !== item) list.insertBefore(item, list.children[i] ?? null);
  });
}

function renderMembers(): void {
  const view = current;
  const own = welcome?.sessionId;
  if (view.kind === "room") {
    ui.membersTitle.textContent = `In ${view.title}`;
    ui.onlineCount.textContent = view.members.size > 0 ? `(${view.members.size})` : "";
    ui.membersNote.hidden = true;
  } else {
    ui.membersTitle.textContent = view.kind === "private" ? "Private" : "Online";
    ui.onlineCount.textContent = "";
    ui.membersNote.hidden = false;
    ui.membersNote.textContent = view.kind === "private"
      ? `Only you and ${printable(view.title)} see these messages.`
      : "You are in no room: join one.";
  }
  const items = [...view.members].map(([sessionId, nickname]) => {
    const item = document.createElement("li");
    item.textContent = printable(nickname);
    if (sessionId === own) {
      item.className = "you";
      const you = document.createElement("span");
      you.textContent = " (you)";
      item.append(you);
    }
    return item;
  });
  ui.online.replaceChildren(...items);
}

function renderViewBar(): void {
  const view = current;
  ui.viewHeading.textContent = view.kind === "private"
    ? `Private: ${printable(view.title)}`
    : view.kind === "room"
    ? view.title
    : "No room";
  const room = view.kind === "room";
  ui.historyMore.hidden = !room || !view.moreHistory || view.historyUnavailable;
  ui.historyMore.disabled = welcome === undefined || view.paging !== undefined ||
    tracker.isJoining(view.key);
  ui.historyMore.textContent = view.paging === undefined
    ? "Earlier messages"
    : "Loading earlier messages ...";
  ui.historyNote.textContent = !room
    ? ""
    : view.historyUnavailable
    ? "history cannot be read now"
    : !view.moreHistory && view.list.querySelector(".history") !== null
    ? "nothing earlier is kept"
    : "";
}

function renderComposer(): void {
  const view = current;
  // In a conversation, plain lines go to the other person.
  ui.mode.disabled = view.kind === "private";
  ui.input.placeholder = view.kind === "private"
    ? `Private message to ${printable(view.title)}, or /help`
    : view.kind === "room"
    ? `Message ${view.title}, or /help`
    : "/join #room, or /help";
}

function lineKind(message: ServerMessage): LineKind {
  return message.body.case === "error" ? "error" : "notice";
}

function setStatus(state: "connecting" | "connected" | "disconnected", text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  const connected = state === "connected";
  ui.send.disabled = !connected;
  ui.nicknameSet.disabled = !connected;
  ui.join.disabled = !connected;
  renderViewBar();
  renderAccount();
}

function showConnected(): void {
  if (welcome === undefined) return;
  setStatus("connected", formatWelcome({ ...welcome, online }, admitted));
}

// ---------------------------------------------------------------- sending

type ClientMessageInit = MessageInitShape<typeof ClientMessageSchema>;

function send(message: ClientMessageInit): boolean {
  if (socket === undefined || welcome === undefined) return false;
  if (waitingForLogin) {
    // Anything before the Log in would end the connection.
    addLine(current, "! Log in first: this server admits registered users only", "error");
    return false;
  }
  socket.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, message)));
  armKeepalive();
  return true;
}

/** Sends a request whose answer (or error) is told apart by the request it answers. */
function request(message: ClientMessageInit, waiting: Awaiting): boolean {
  if (!send(message)) return false;
  awaiting.push(waiting);
  return true;
}

/** The oldest request waiting that `accepts` takes as answered; it waits no more. */
function answered(accepts: (request: Awaiting) => boolean): Awaiting | undefined {
  const index = awaiting.findIndex(accepts);
  return index < 0 ? undefined : awaiting.splice(index, 1)[0];
}

/** (Re)starts the idle timer: a Ping goes out only after 30 s without sending anything. */
function armKeepalive(): void {
  clearTimeout(keepaliveTimer);
  keepaliveTimer = setTimeout(() => {
    send({ body: { case: "ping", value: { nonce: nextKeepaliveNonce++ } } });
  }, KEEPALIVE_MS);
}

function currentMode(): Action {
  // In a conversation, plain lines are private (sent as "broadcast" to the one person).
  if (current.kind === "private") return Action.BROADCAST;
  return ui.mode.value === "echo" ? Action.ECHO : Action.BROADCAST;
}

/** Asks who is in `room`, to fill its member list without a line. */
function askMembers(room: string): void {
  request(
    { body: { case: "who", value: { room } } },
    { kind: "who", room, automatic: true },
  );
}

/** Joins `room` (a key) and shows it; shows it alone if the page is in it already. */
function joinRoom(room: string): boolean {
  const existing = views.get(room);
  if (tracker.has(room) && existing !== undefined && !existing.leaving) {
    show(existing);
    return true;
  }
  if (welcome === undefined) {
    addLine(current, "! Not connected; join the room once the page is back", "error");
    return false;
  }
  const join = tracker.join(room);
  const view = roomView(join.room);
  view.leaving = false;
  view.resuming = false;
  request({ body: { case: "join", value: join } }, {
    kind: "join",
    room: join.room,
    automatic: false,
  });
  show(view);
  return true;
}

/** Leaves `room` (a key); the view goes at once, and the room is gone at RoomParted. */
function leaveRoom(room: string): boolean {
  const view = views.get(room);
  if (view === undefined || view.kind !== "room" || view.leaving || !tracker.has(room)) {
    addLine(current, `! You are not in ${printable(room)}`, "error");
    return false;
  }
  if (welcome === undefined) {
    addLine(current, "! Not connected; leave the room once the page is back", "error");
    return false;
  }
  tracker.part(room);
  view.leaving = true;
  request({ body: { case: "part", value: { room } } }, { kind: "part", room, automatic: false });
  if (view === current) show(fallbackView());
  else render();
  return true;
}

function closePrivate(view: View): void {
  views.delete(view.key);
  view.list.remove();
  view.entry?.item.remove();
  if (view === current) show(fallbackView());
  else render();
}

/** Asks for earlier messages of `view` (a room), to go in above; false when it cannot now. */
function askHistory(view: View, count: number, automatic: boolean): boolean {
  if (welcome === undefined || view.paging !== undefined || tracker.isJoining(view.key)) {
    return false;
  }
  const page = tracker.history(count, view.key);
  if (page === undefined) return false;
  if (
    !request({ body: { case: "history", value: page } }, {
      kind: "history",
      room: page.room,
      automatic,
    })
  ) {
    tracker.historyEnd(page.room);
    return false;
  }
  view.paging = 0;
  renderViewBar();
  return true;
}

/** At the top of a room with more kept: the earlier messages, once, as the reader scrolls. */
function pageOnScroll(view: View): void {
  const list = view.list;
  if (
    view.kind !== "room" || !view.moreHistory || view.historyUnavailable ||
    list.scrollTop >= TOP_MARGIN_PX || list.scrollHeight <= list.clientHeight
  ) return;
  askHistory(view, HISTORY_PAGE, true);
}

ui.historyMore.addEventListener("click", () => {
  if (current.kind === "room") askHistory(current, HISTORY_PAGE, true);
});

function sendChat(line: string, text: string, action: Action, to?: string): boolean {
  const bytes = utf8Length(text);
  if (welcome !== undefined && bytes > welcome.maxContentBytes) {
    // As the server would answer, but the text stays in the box to be shortened.
    addLine(
      current,
      `! Message is ${bytes} bytes long; the limit is ${welcome.maxContentBytes}`,
      "error",
    );
    return false;
  }
  const clientSeq = nextSeq++;
  let value: MessageInitShape<typeof ChatSchema>;
  if (to !== undefined) {
    value = { content: text, action: Action.PRIVATE, clientSeq, toNickname: to };
  } else if (action === Action.ECHO) {
    value = { content: text, action, clientSeq };
  } else if (current.kind === "private") {
    value = { content: text, action: Action.PRIVATE, clientSeq, toNickname: current.title };
  } else if (current.kind === "room") {
    // The lobby as "": what servers from before rooms take.
    value = { content: text, action, clientSeq, room: current.key === LOBBY ? "" : current.key };
  } else {
    addLine(current, "! You are in no room: join one (on the left, or /join #room)", "error");
    return false;
  }
  if (!send({ body: { case: "chat", value } })) return false;
  unconfirmed.set(clientSeq, line);
  if (to !== undefined && current.key !== `@${to.toLowerCase()}`) {
    privateOrigins.set(clientSeq, current);
  }
  return true;
}

function submitLine(line: string): boolean {
  const command = parseInputLine(line, currentMode(), { rooms: true });
  switch (command.kind) {
    case "empty":
      return true;
    case "chat":
      return sendChat(line, command.text, command.action);
    case "private":
      return sendChat(line, command.text, Action.PRIVATE, command.nickname);
    case "mode":
      ui.mode.value = command.action === Action.ECHO ? "echo" : "broadcast";
      return true;
    case "nick":
      return request(
        { body: { case: "hello", value: { nickname: command.nickname } } },
        { kind: "nick", room: "", automatic: false },
      );
    case "who": {
      // The room shown, by default; in a conversation, everyone online.
      const room = command.room ?? (current.kind === "room" ? current.key : "");
      return request(
        { body: { case: "who", value: { room } } },
        { kind: "who", room, automatic: false },
      );
    }
    case "join":
      return joinRoom(command.room);
    case "part":
      if (command.room === undefined && current.kind === "private") {
        closePrivate(current);
        return true;
      }
      if (command.room === undefined && current.kind !== "room") {
        addLine(current, "! Usage: /part #room - no room is shown", "error");
        return false;
      }
      return leaveRoom(command.room ?? current.key);
    case "rooms":
      return request(
        { body: { case: "rooms", value: {} } },
        { kind: "rooms", room: "", automatic: false },
      );
    case "history":
      if (current.kind !== "room") {
        addLine(current, "! /history shows a room's earlier messages: pick a room first", "error");
        return false;
      }
      if (welcome === undefined) return false;
      if (!askHistory(current, command.count ?? HISTORY_PAGE, false)) {
        addLine(current, "! Earlier messages are on their way already", "error");
      }
      return true;
    case "ping": {
      const nonce = nextPingNonce++;
      pings.set(nonce, performance.now());
      return send({ body: { case: "ping", value: { nonce } } });
    }
    case "identify":
      identify(command.nickname ?? registeredNickname ?? welcome?.nickname ?? "", command.password);
      // A password never stays in the box, sent or not.
      return true;
    case "register":
      accountRequest({ case: "register", value: { password: command.password } }, command.password);
      return true;
    case "password":
      accountRequest(
        {
          case: "changePassword",
          value: { oldPassword: command.oldPassword, newPassword: command.newPassword },
        },
        command.newPassword,
      );
      return true;
    case "unregister":
      accountRequest({ case: "unregister", value: { password: command.password } }, "");
      return true;
    case "help":
      for (const text of HELP_LINES) addLine(current, text, "notice");
      return true;
    case "quit":
      stop();
      return true;
    case "invalid":
      addLine(current, `! ${command.message}`, "error");
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
  askedNicknames.push(nickname);
  request(
    { body: { case: "hello", value: { nickname, client: CLIENT_NAME } } },
    { kind: "nick", room: "", automatic: false },
  );
  ui.input.focus();
});

// ---------------------------------------------------------------- accounts

/** True when a password may go now; otherwise the page says why not. */
function passwordsAccepted(): boolean {
  if (welcome === undefined) {
    addLine(current, "! Not connected; try again once the page is back", "error");
    return false;
  }
  if (welcome.passwordsAccepted) return true;
  addLine(current, `! ${passwordWithheldText(location.host, "page")}`, "error");
  return false;
}

/** Takes the registered `nickname` with `password` (Log in, /identify). */
function identify(nickname: string, password: string): void {
  if (nickname === "") return;
  if (loginBeforeConnect) {
    // The next Welcome finds the password and sends the Hello with it.
    wantedNickname = nickname;
    accountPassword = password;
    loginBeforeConnect = false;
    return connect();
  }
  if (!passwordsAccepted()) return;
  if (waitingForLogin) {
    // Nothing was sent yet on this connection: the Hello and the joins go now, identified.
    wantedNickname = nickname;
    accountPassword = password;
    waitingForLogin = false;
    return startSession();
  }
  accountRequests.push({ kind: "identify", nickname, password });
  askedNicknames.push(nickname);
  request(
    { body: { case: "hello", value: { nickname, password, client: CLIENT_NAME } } },
    { kind: "identify", room: "", automatic: false },
  );
}

/** Register, change password or unregister; `password`: the one that holds once it succeeds. */
function accountRequest(body: NonNullable<ClientMessageInit["body"]>, password: string): void {
  if (!passwordsAccepted()) return;
  accountRequests.push({ kind: "account", nickname: welcome!.nickname, password });
  request({ body }, { kind: "account", room: "", automatic: false });
}

/** An AccountChanged: what the request asked for holds from now on. */
function accountChanged(message: ServerMessage, value: AccountChanged): void {
  const kind = value.change === AccountChange.IDENTIFIED ? "identify" : "account";
  answered((waiting) => waiting.kind === kind);
  const index = accountRequests.findIndex((asked) => asked.kind === kind);
  const asked = index < 0 ? undefined : accountRequests.splice(index, 1)[0];
  if (value.change === AccountChange.UNREGISTERED) accountPassword = "";
  else if (asked !== undefined) {
    // A reconnect identifies again, with the password that holds now.
    wantedNickname = value.nickname;
    accountPassword = asked.password;
  }
  if (value.change === AccountChange.IDENTIFIED && welcome !== undefined) {
    // On a server for registered users only, identifying is what names the session.
    admitted = true;
    welcome.nickname = value.nickname;
    ui.nickname.placeholder = value.nickname;
    showConnected();
  }
  // Done with the form: the message list gets its room back.
  if (value.change === AccountChange.IDENTIFIED || value.change === AccountChange.REGISTERED) {
    ui.account.open = false;
  }
  ui.accountPassword.value = "";
  const line = formatServerMessage(message, welcome?.sessionId, plainStyle, { surface: "page" });
  if (line !== undefined) addLine(current, line, "notice");
  render();
}

/** An error that answers a Hello or an account request: what was asked for does not hold. */
function accountRefused(request: Awaiting | undefined, code: ErrorCode): void {
  if (request?.kind === "nick" || request?.kind === "identify") {
    const nickname = askedNicknames.shift();
    if (code === ErrorCode.NICKNAME_REGISTERED && nickname !== undefined) {
      registeredNickname = nickname;
      // Log in is where to take it: open, with the name filled in.
      ui.account.open = true;
      ui.accountNickname.value = nickname;
    }
  }
  if (request?.kind === "identify" || request?.kind === "account") {
    const kind = request.kind;
    const index = accountRequests.findIndex((asked) => asked.kind === kind);
    if (index >= 0) accountRequests.splice(index, 1);
  }
}

function renderAccount(): void {
  const connected = welcome !== undefined;
  const accepted = welcome?.passwordsAccepted ?? false;
  ui.accountLogin.disabled = !accepted && !loginBeforeConnect;
  // Accounts are the operator's to make there (server accounts add).
  ui.accountRegister.hidden = accountRequired;
  ui.accountRegister.disabled = !accepted || waitingForLogin;
  // The button says which name it registers: the one the page has, not the field's.
  ui.accountRegister.textContent = connected && !waitingForLogin
    ? `Register ${printable(welcome!.nickname)}`
    : "Register my nickname";
  ui.accountNote.dataset.state = connected && !accepted ? "refused" : "";
  ui.accountNote.textContent = loginBeforeConnect
    ? "This server admits registered users only: log in with your nickname and password to connect."
    : !connected
    ? ""
    : !accepted
    ? passwordWithheldText(location.host, "page")
    : waitingForLogin
    ? "This server admits registered users only: log in with your nickname and password."
    : accountRequired
    ? `You are identified as ${printable(welcome!.nickname)}.`
    : `Log in takes a registered nickname; Register makes ${
      printable(welcome!.nickname)
    } yours: from then on only its password takes it.`;
  if (ui.accountNickname.value === "" && document.activeElement !== ui.accountNickname) {
    ui.accountNickname.placeholder = waitingForLogin || loginBeforeConnect
      ? ""
      : registeredNickname ?? welcome?.nickname ?? "";
  }
}

ui.accountForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nickname = ui.accountNickname.value.trim() || ui.accountNickname.placeholder;
  const password = ui.accountPassword.value;
  if (password === "") return ui.accountPassword.focus();
  identify(nickname, password);
});

ui.accountRegister.addEventListener("click", () => {
  const password = ui.accountPassword.value;
  if (password === "") return ui.accountPassword.focus();
  accountRequest({ case: "register", value: { password } }, password);
});

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const typed = ui.joinRoom.value.trim();
  if (typed === "") return;
  const name = typed.startsWith("#") ? typed : `#${typed}`;
  const problem = roomNameProblem(name);
  if (problem !== undefined) {
    // The name stays in the box, to be corrected.
    addLine(current, `! ${problem}`, "error");
    return;
  }
  if (joinRoom(roomKey(name))) ui.joinRoom.value = "";
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
  else addLine(current, `! not sent: ${line}`, "error");
}

/** Shows what the tracker gives out. `above`: history asked for may be among it. */
function showTracked(outputs: TrackedOutput[], above: boolean): void {
  for (const output of outputs) {
    if (output.kind === "gap") {
      const view = views.get(output.room);
      if (view !== undefined) {
        addLine(view, formatGap(output.room, output.missed, plainStyle), "error", {
          unread: true,
        });
      }
    } else showChat(output.event, output.room, above);
  }
}

function showChat(event: ChatEvent, room: string | undefined, above: boolean): void {
  const own = welcome !== undefined && event.fromSessionId === welcome.sessionId;
  const text = (shown: ChatEvent) => formatChatEvent(shown, welcome?.sessionId, plainStyle);
  if (event.action === Action.PRIVATE) {
    const outgoing = own && event.toNickname !== "";
    const view = privateView(outgoing ? event.toNickname : event.fromNickname);
    addLine(view, text(event), "private", { sentAt: event.sentAtUnixMs, unread: !outgoing });
    const origin = privateOrigins.get(event.clientSeq);
    if (outgoing && origin !== undefined) {
      privateOrigins.delete(event.clientSeq);
      // Typed with /msg: the conversation is shown, unless the reader went elsewhere.
      if (origin === current && view !== current) show(view);
    }
    scheduleRender();
    return;
  }
  if (room === undefined) {
    // An echo has no room: it shows where it was typed.
    addLine(current, text(event), "echo", { sentAt: event.sentAtUnixMs });
    return;
  }
  const view = views.get(room);
  if (view === undefined || view.kind !== "room") return;
  // The view names the room: its lines need not.
  addLine(view, text({ ...event, room: "" }), "broadcast", {
    history: event.history,
    sentAt: event.sentAtUnixMs,
    above: above && event.history,
    // What came while the reader was elsewhere, missed messages included; not what a join brings.
    unread: !own && !view.leaving && (!event.history || view.resuming),
  });
}

function receive(message: ServerMessage): void {
  const body = message.body;
  switch (body.case) {
    case "welcome":
      return welcomed(body.value);
    case "chat": {
      const event = body.value;
      if (!event.history && event.fromSessionId === welcome?.sessionId) {
        unconfirmed.delete(event.clientSeq);
      }
      showTracked(tracker.chat(event), true);
      return;
    }
    case "presence":
      return presence(message, body.value);
    case "who":
      return who(message, body.value);
    case "joined":
      return joined(message, body.value);
    case "parted":
      return parted(body.value);
    case "historyEnd":
      return historyEnded(message, body.value);
    case "account":
      return accountChanged(message, body.value);
    case "rooms": {
      answered((request) => request.kind === "rooms");
      break;
    }
    case "pong": {
      const sentAt = pings.get(body.value.nonce);
      if (sentAt === undefined) return; // a keepalive
      pings.delete(body.value.nonce);
      addLine(current, `* pong in ${(performance.now() - sentAt).toFixed(1)} ms`, "notice");
      return;
    }
    case "error":
      return failed(message, body.value);
  }
  const line = formatServerMessage(message, welcome?.sessionId, plainStyle);
  if (line !== undefined) addLine(current, line, lineKind(message));
}

function presence(message: ServerMessage, value: Presence): void {
  const { kind, sessionId, nickname, previousNickname } = value;
  online = value.online;
  const view = views.get(roomKey(value.room));
  const room = view?.kind === "room" && !view.leaving ? view : undefined;
  if (room !== undefined) {
    if (kind === PresenceKind.LEFT) room.members.delete(sessionId);
    else if (kind === PresenceKind.JOINED || kind === PresenceKind.RENAMED) {
      room.members.set(sessionId, nickname);
    }
  }
  const own = sessionId === welcome?.sessionId;
  if (kind === PresenceKind.RENAMED && own && welcome !== undefined) {
    // Another name, taken without a password: the password was the old name's.
    if (answered((request) => request.kind === "nick") !== undefined) {
      askedNicknames.shift();
      accountPassword = "";
    }
    welcome.nickname = nickname;
    wantedNickname = nickname;
    ui.nickname.value = "";
    ui.nickname.placeholder = nickname;
  }
  const line = formatServerMessage(message, welcome?.sessionId, plainStyle);
  if (kind === PresenceKind.RENAMED && !own) {
    // A conversation follows its correspondent's new name (told once per room shared).
    const conversation = views.get(`@${previousNickname.toLowerCase()}`);
    if (conversation?.kind === "private" && previousNickname !== nickname) {
      renamePrivate(conversation, nickname);
      if (line !== undefined) addLine(privateView(nickname), line, "notice");
    }
  }
  // A rename of one's own, in no room, is told once, for no room: it shows where one is.
  const target = room ?? (kind === PresenceKind.RENAMED && own ? current : undefined);
  if (line !== undefined && target !== undefined) addLine(target, line, "notice");
  renderMembers();
  renderViewList();
  showConnected();
}

/** Moves a conversation to its correspondent's new nickname, keeping its place in the list. */
function renamePrivate(view: View, nickname: string): void {
  const key = `@${nickname.toLowerCase()}`;
  if (views.has(key)) return; // a conversation with the new name is open already
  const entries = [...views.values()];
  views.clear();
  view.key = key;
  view.title = nickname;
  view.entry!.select.dataset.view = key;
  view.entry!.close.dataset.view = key;
  for (const each of entries) views.set(each.key, each);
}

function who(message: ServerMessage, value: WhoResponse): void {
  const room = value.room === "" ? "" : roomKey(value.room);
  const request = answered((waiting) => waiting.kind === "who" && waiting.room === room);
  if (room === "") online = value.users.length;
  const view = room === "" ? undefined : views.get(room);
  if (view?.kind === "room") {
    view.members = new Map(value.users.map((user) => [user.sessionId, user.nickname]));
    if (view === current) renderMembers();
  }
  showConnected();
  if (request?.automatic) return;
  const line = formatServerMessage(message, welcome?.sessionId, plainStyle);
  if (line !== undefined) addLine(current, line, "notice");
}

function joined(message: ServerMessage, value: RoomJoined): void {
  const room = roomKey(value.room);
  const request = answered((waiting) => waiting.kind === "join" && waiting.room === room);
  const view = views.get(room);
  const outputs = tracker.joined(value);
  if (view !== undefined) {
    // A resume brings what came after the last message shown: what is older is as it was.
    if (!view.resuming) view.moreHistory = value.moreHistory;
    view.historyUnavailable = value.historyUnavailable;
  }
  // The history first, then the join: the room as it was, then the reader in it.
  showTracked(outputs, false);
  if (view !== undefined) {
    view.resuming = false;
    if (request !== undefined && !request.automatic) {
      const line = formatServerMessage(message, welcome?.sessionId, plainStyle);
      if (line !== undefined) addLine(view, line, "notice");
    } else if (value.historyUnavailable) {
      addLine(view, `! the history of ${printable(room)} cannot be read now`, "error");
    }
  }
  render();
}

function parted(value: RoomParted): void {
  const room = roomKey(value.room);
  const request = answered((waiting) => waiting.kind === "part" && waiting.room === room);
  const view = views.get(room);
  // Joined again since the part was sent: the join's answer follows, and the room stays.
  if (view?.kind === "room" && !view.leaving) return render();
  tracker.parted(room);
  if (view !== undefined) removeView(view);
  if (request !== undefined && !request.automatic) {
    addLine(current, `* left ${printable(room)}`, "notice");
  }
  render();
}

function historyEnded(message: ServerMessage, value: HistoryEnd): void {
  const room = roomKey(value.room);
  const request = answered((waiting) => waiting.kind === "history" && waiting.room === room);
  tracker.historyEnd(room);
  const view = views.get(room);
  if (view !== undefined) {
    view.paging = undefined;
    if (value.unavailable) view.historyUnavailable = true;
    else view.moreHistory = value.more;
    const line = formatServerMessage(message, welcome?.sessionId, plainStyle);
    // Scrolling up shows the messages alone; /history says what it brought, as the terminal.
    if (line !== undefined && (value.unavailable || request?.automatic === false)) {
      addLine(view, line, value.unavailable ? "error" : "notice");
    }
  }
  renderViewBar();
}

function failed(message: ServerMessage, value: ErrorMessage): void {
  const { code, clientSeq, fatal } = value;
  if (
    NICKNAME_REFUSED.has(code) && welcome !== undefined && welcome.nickname !== wantedNickname
  ) {
    // The name asked for after a reconnect was taken meanwhile, or is registered and the
    // password is missing or wrong: stop asking for it.
    wantedNickname = "";
    accountPassword = "";
  }
  if (!fatal && clientSeq !== 0n) {
    privateOrigins.delete(clientSeq);
    restoreRefused(clientSeq);
  } else if (!fatal) {
    const request = answered((waiting) => ERRORS_ANSWERING[waiting.kind].includes(code));
    accountRefused(request, code);
    const view = request === undefined ? undefined : views.get(request.room);
    if (request?.kind === "join") {
      // Refused: what was held for it is shown, and the room goes unless the page is in it.
      showTracked(tracker.joinFailed(request.room), false);
      if (view !== undefined) view.resuming = false;
      pruneRoomViews();
    } else if (request?.kind === "part" && view !== undefined) {
      view.leaving = false;
      if (code === ErrorCode.NOT_IN_ROOM) {
        // Not in it after all: it goes as if parted.
        tracker.parted(request.room);
        removeView(view);
      } else tracker.partFailed(request.room);
    } else if (request?.kind === "history") {
      tracker.historyEnd(request.room);
      if (view !== undefined) view.paging = undefined;
    }
  }
  // Cut while waiting for Log in: the form says what to do, without an alarm.
  const loginTimedOut = fatal && code === ErrorCode.AUTH_REQUIRED && waitingForLogin;
  const line = formatServerMessage(message, welcome?.sessionId, plainStyle, { surface: "page" });
  if (line !== undefined && !loginTimedOut) addLine(current, line, "error");
  render();
}

function welcomed(value: Welcome): void {
  welcome = value;
  online = value.online;
  accountRequired = value.accountRequired;
  admitted = !value.accountRequired;
  // A guest name there is never anyone's: no name until Log in.
  ui.nickname.placeholder = admitted ? value.nickname : "";
  showConnected();
  if (disconnectedAt !== undefined) {
    const gap = ((Date.now() - disconnectedAt) / 1000).toFixed(1);
    addLineEverywhere(`* reconnected after ${gap} s`, "notice");
    disconnectedAt = undefined;
  }
  const password = accountPassword !== "" && value.passwordsAccepted ? accountPassword : "";
  if (value.accountRequired && password === "") {
    // Anything sent before identifying would end the connection: Log in first.
    waitingForLogin = true;
    ui.account.open = true;
    if (accountPassword !== "") {
      addLine(current, `! ${passwordWithheldText(location.host, "page")}`, "error");
    } else {
      addLine(
        current,
        "* This server admits registered users only: log in with your nickname and password (Account, above)",
        "notice",
      );
    }
    // showConnected drew the form before this Welcome was known to wait for Log in.
    renderAccount();
    return render();
  }
  startSession();
}

/** The Hello and the joins that follow a Welcome, or a Log in the Welcome waited for. */
function startSession(): void {
  const value = welcome!;
  const password = accountPassword !== "" && value.passwordsAccepted ? accountPassword : "";
  if (accountPassword !== "" && password === "" && wantedNickname !== "") {
    addLine(current, `! ${passwordWithheldText(location.host, "page")}`, "error");
  }
  // As the terminal client: the client name for the server's log, and the nickname again.
  send({
    body: { case: "hello", value: { nickname: wantedNickname, password, client: CLIENT_NAME } },
  });
  if (wantedNickname !== "") {
    askedNicknames.push(wantedNickname);
    if (password !== "") {
      accountRequests.push({ kind: "identify", nickname: wantedNickname, password });
    }
    awaiting.push({ kind: password === "" ? "nick" : "identify", room: "", automatic: true });
  }
  // The lobby's recent messages the first time; after a reconnect, what each room missed.
  const { joins, partLobby } = tracker.connected();
  // Parts left unanswered took effect with the old session: those rooms are gone.
  for (const view of views.values()) view.leaving = false;
  pruneRoomViews();
  for (const join of joins) {
    const view = roomView(join.room);
    view.resuming = join.resume;
    request({ body: { case: "join", value: join } }, {
      kind: "join",
      room: join.room,
      automatic: true,
    });
    // Welcome carries only a count; the members come from a WhoRequest, then presence.
    askMembers(join.room);
  }
  if (partLobby) {
    // Left before the reconnect; a new session starts in it.
    request({ body: { case: "part", value: { room: LOBBY } } }, {
      kind: "part",
      room: LOBBY,
      automatic: true,
    });
  }
  // After a reload: the rooms the tab was in, each with its recent messages.
  const restoring = roomsToRestore;
  roomsToRestore = [];
  for (const room of restoring) if (!tracker.has(room)) joinRoom(room);
  const restoredView = saved.current === undefined ? undefined : views.get(saved.current);
  if (restoring.length > 0 && restoredView !== undefined) show(restoredView);
  if (current.kind === "none" || (current.kind === "room" && !views.has(current.key))) {
    show(fallbackView());
  }
  render();
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
      addLine(current, "! the server sent a message this page cannot read", "error");
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
    privateOrigins.clear();
    awaiting = [];
    askedNicknames = [];
    accountRequests = [];
    // Cut while waiting for Log in (the server's time to identify ran out): connecting
    // again would only be cut again. The form waits; Log in connects.
    loginBeforeConnect = waitingForLogin && accountPassword === "";
    waitingForLogin = false;
    admitted = false;
    // What was held for joins is asked for again by the resume.
    if (wasWelcomed) tracker.disconnected();
    // Who is in each room is unknown until the next Welcome; a stale list would mislead.
    online = 0;
    for (const view of views.values()) {
      view.members = new Map();
      view.paging = undefined;
      view.resuming = false;
    }
    render();
    if (stopped) return;
    if (loginBeforeConnect) {
      ui.account.open = true;
      return setStatus("disconnected", "registered users only: log in to connect");
    }
    const stable = wasWelcomed && openedAt !== undefined &&
      Date.now() - openedAt >= STABLE_CONNECTION_MS;
    failures = stable ? 1 : failures + 1;
    const delay = backoffDelay(failures);
    if (wasWelcomed) {
      disconnectedAt = Date.now();
      addLineEverywhere(`disconnected - reconnecting in ${(delay / 1000).toFixed(1)} s`, "error");
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
  if (stopped || socket !== undefined || loginBeforeConnect) return;
  clearTimeout(retryTimer);
  connect();
}
globalThis.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});

show(roomView(LOBBY));
connect();
ui.input.focus();
