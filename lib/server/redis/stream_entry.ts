import { Buffer } from "node:buffer";
import type { ClusterUser, HubEvent } from "../backplane.ts";
import { LOBBY, roomKey, roomNameProblem } from "../../protocol/room_name.ts";

/**
 * One entry of the events stream: a hub event (private messages aside: they go by PUBLISH,
 * unkept), or a server's whole list of users.
 */
export interface StreamEntry {
  /** The publishing process's token: a server number can outlive a process. */
  origin: string;
  node: number;
  /** Counts up per process, so that a replayed entry is recognised and skipped. */
  seq: number;
  body: Exclude<HubEvent, { kind: "private" }> | { kind: "users"; users: ClusterUser[] };
}

/** The stream fields of an entry; chat payloads go as raw bytes, the rest as JSON. */
export function encodeStreamEntry(entry: StreamEntry): (string | Buffer)[] {
  const { body } = entry;
  const fields: (string | Buffer)[] = [
    "o",
    entry.origin,
    "n",
    String(entry.node),
    "q",
    String(entry.seq),
  ];
  switch (body.kind) {
    case "chat":
      fields.push("t", "c", "d", ownBuffer(body.payload));
      // The lobby's and unnumbered events leave these out, as before rooms.
      if (body.room !== undefined && body.room !== LOBBY) fields.push("r", body.room);
      if (body.eventId !== undefined && body.eventId !== 0n) fields.push("i", String(body.eventId));
      break;
    case "room_joined":
    case "room_left":
      fields.push(
        "t",
        body.kind === "room_joined" ? "J" : "L",
        "d",
        JSON.stringify({ s: String(body.sessionId), r: body.room }),
      );
      break;
    case "joined":
      fields.push("t", "j", "d", JSON.stringify(userJson(body.user)));
      break;
    case "left":
      fields.push("t", "l", "d", String(body.sessionId));
      break;
    case "renamed":
      fields.push("t", "r", "d", JSON.stringify({ s: String(body.sessionId), n: body.nickname }));
      break;
    case "users":
      fields.push("t", "u", "d", JSON.stringify(body.users.map((user) => userJson(user))));
      break;
  }
  return fields;
}

/** Reads an entry's fields, as XREAD returns them; throws "Cannot read stream entry: ..." on a bad one. */
export function decodeStreamEntry(fields: Buffer[]): StreamEntry {
  try {
    return decodeFields(fields);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot read stream entry: ${reason}`, { cause: error });
  }
}

function decodeFields(fields: Buffer[]): StreamEntry {
  const values = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i].toString(), fields[i + 1]);
  const field = (name: string): Buffer => {
    const value = values.get(name);
    if (value === undefined) throw new Error(`no field "${name}"`);
    return value;
  };
  const text = (name: string) => field(name).toString();
  const number = (name: string) => {
    const value = Number(text(name));
    if (!Number.isSafeInteger(value)) throw new Error(`field "${name}" is not a whole number`);
    return value;
  };
  const node = number("n");
  const entry = { origin: text("o"), node, seq: number("q") };
  const type = text("t");
  switch (type) {
    case "c": {
      const data = field("d");
      const room = values.get("r")?.toString();
      const eventId = values.get("i")?.toString();
      return {
        ...entry,
        body: {
          kind: "chat",
          payload: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
          room: room === undefined ? undefined : roomName(room),
          eventId: eventId === undefined ? undefined : BigInt(eventId),
        },
      };
    }
    case "J":
    case "L": {
      const { s, r } = JSON.parse(text("d"));
      return {
        ...entry,
        body: {
          kind: type === "J" ? "room_joined" : "room_left",
          sessionId: BigInt(s),
          room: roomName(String(r)),
        },
      };
    }
    case "j":
      return { ...entry, body: { kind: "joined", user: parseUser(JSON.parse(text("d")), node) } };
    case "l":
      return { ...entry, body: { kind: "left", sessionId: BigInt(text("d")) } };
    case "r": {
      const { s, n } = JSON.parse(text("d"));
      return { ...entry, body: { kind: "renamed", sessionId: BigInt(s), nickname: String(n) } };
    }
    case "u":
      return {
        ...entry,
        body: {
          kind: "users",
          users: JSON.parse(text("d")).map((user: UserJson) => parseUser(user, node)),
        },
      };
    default:
      throw new Error(`unknown type "${type}"`);
  }
}

/**
 * A copy in a buffer of its own: the payload may be a view into a shared slab
 * (allocateBytes), and the entry may wait in the outbox for the length of an outage
 * (Buffer.from(payload) would copy into Node's shared pool, a slab again).
 */
function ownBuffer(payload: Uint8Array): Buffer {
  return Buffer.from(payload.slice().buffer);
}

/** A room name from another server, checked: it becomes a key of this server's rooms. */
function roomName(name: string): string {
  if (roomNameProblem(name) !== undefined || name === "") throw new Error(`bad room "${name}"`);
  return roomKey(name);
}

/** A user as stored in Redis: in a stream entry, or as a `users:<n>` record with its session id outside. */
export interface UserJson {
  s?: string;
  /** Nickname. */
  n: string;
  /** Joined at, ms since the epoch. */
  t: number;
  /** The nickname key claimed in `nicks`; absent for guest names, which need no claim. */
  k?: string;
  /** Rooms; absent when only the lobby, as before rooms. */
  r?: string[];
}

export function userJson(user: ClusterUser, claimedKey?: string): UserJson {
  const rooms = user.rooms;
  const onlyLobby = rooms === undefined || (rooms.length === 1 && rooms[0] === LOBBY);
  return {
    s: String(user.sessionId),
    n: user.nickname,
    t: user.joinedAt,
    k: claimedKey,
    r: onlyLobby ? undefined : rooms,
  };
}

export function parseUser(json: UserJson, node: number, sessionId?: string): ClusterUser {
  return {
    sessionId: BigInt(sessionId ?? json.s!),
    nickname: String(json.n),
    node,
    joinedAt: Number(json.t),
    ...(Array.isArray(json.r) ? { rooms: json.r.map((room) => roomName(String(room))) } : {}),
  };
}
