/**
 * The Lua scripts of the Redis backplane. Each runs atomically in Redis, so no two
 * servers can both win a nickname, and a dead server is reaped exactly once.
 *
 * Keys, under the prefix "chat:":
 * - `node:<n>`: server n's heartbeat, holding its process token; it expires when n dies;
 * - `nodes`: the set of server numbers that may be alive;
 * - `users:<n>`: server n's users, session id -> {"n": nickname, "t": joined at, "k": claimed key};
 * - `nicks`: nickname key -> "<node>:<session id>" of its holder;
 * - `events`: the stream of hub events.
 */

/** Deletes a dead server's users and the nicknames they held. */
const REAP = `
local function reap(p, node)
  local users = p .. 'users:' .. node
  local records = redis.call('HGETALL', users)
  for i = 1, #records, 2 do
    local key = cjson.decode(records[i + 1]).k
    if key and redis.call('HGET', p .. 'nicks', key) == node .. ':' .. records[i] then
      redis.call('HDEL', p .. 'nicks', key)
    end
  end
  redis.call('DEL', users)
  redis.call('SREM', p .. 'nodes', node)
end
`;

/**
 * ARGV: prefix, with users ("1" or "0"). Reaps the servers whose heartbeat expired and
 * returns {last event id, live servers}; each live server is {number, users} with
 * users, or just its number without.
 */
export const LIVE_SERVERS = `${REAP}
local p = ARGV[1]
local live = {}
for _, node in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  if redis.call('EXISTS', p .. 'node:' .. node) == 1 then
    if ARGV[2] == '1' then
      table.insert(live, {node, redis.call('HGETALL', p .. 'users:' .. node)})
    else
      table.insert(live, node)
    end
  else
    reap(p, node)
  end
end
local last = redis.call('XREVRANGE', p .. 'events', '+', '-', 'COUNT', 1)
local lastId = '0-0'
if last[1] then lastId = last[1][1] end
return {lastId, live}
`;

/**
 * ARGV: prefix, node, token, expiry ms. Renews this server's heartbeat: 1 when renewed,
 * 0 when it is gone (Redis lost its data, or the others reaped this server after a
 * long stall), -1 when another process holds this server's number.
 */
export const HEARTBEAT = `
local key = ARGV[1] .. 'node:' .. ARGV[2]
local holder = redis.call('GET', key)
if holder == ARGV[3] then
  redis.call('PEXPIRE', key, ARGV[4])
  return 1
end
if holder then return -1 end
return 0
`;

/**
 * ARGV: prefix, nickname key, holder ("<node>:<session id>"), node, session id, user
 * record, previous nickname key. Gives the key to the holder unless a live user of a
 * live server holds it, records the user, and releases the previous key: 1 or 0.
 */
export const CLAIM_NICKNAME = `
local p = ARGV[1]
local holder = redis.call('HGET', p .. 'nicks', ARGV[2])
if holder and holder ~= ARGV[3] then
  local node, session = string.match(holder, '^(%d+):(%d+)$')
  if node and redis.call('EXISTS', p .. 'node:' .. node) == 1 then
    local record = redis.call('HGET', p .. 'users:' .. node, session)
    if record and cjson.decode(record).k == ARGV[2] then return 0 end
  end
end
redis.call('HSET', p .. 'nicks', ARGV[2], ARGV[3])
redis.call('HSET', p .. 'users:' .. ARGV[4], ARGV[5], ARGV[6])
if ARGV[7] ~= ARGV[2] and redis.call('HGET', p .. 'nicks', ARGV[7]) == ARGV[3] then
  redis.call('HDEL', p .. 'nicks', ARGV[7])
end
return 1
`;

/** ARGV: prefix, node, session id. Forgets a user who left, and frees their nickname. */
export const FORGET_USER = `
local p = ARGV[1]
local users = p .. 'users:' .. ARGV[2]
local record = redis.call('HGET', users, ARGV[3])
if record then
  local key = cjson.decode(record).k
  if key and redis.call('HGET', p .. 'nicks', key) == ARGV[2] .. ':' .. ARGV[3] then
    redis.call('HDEL', p .. 'nicks', key)
  end
  redis.call('HDEL', users, ARGV[3])
end
return 1
`;

/** ARGV: prefix, nickname key, holder ("<node>:<session id>"). Frees the key if the holder has it. */
export const RELEASE_NICKNAME = `
local nicks = ARGV[1] .. 'nicks'
if redis.call('HGET', nicks, ARGV[2]) == ARGV[3] then redis.call('HDEL', nicks, ARGV[2]) end
return 1
`;

/**
 * ARGV: prefix, node, token, expiry ms. Registers this server under its number, unless
 * another process holds it (it was reaped while away, and the number drawn again): 1 or 0.
 */
export const REGISTER = `
local key = ARGV[1] .. 'node:' .. ARGV[2]
local holder = redis.call('GET', key)
if holder and holder ~= ARGV[3] then return 0 end
redis.call('SET', key, ARGV[3], 'PX', ARGV[4])
return 1
`;
