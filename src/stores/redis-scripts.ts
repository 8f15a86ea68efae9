/**
 * The Lua scripts behind the Redis store. Each touches exactly one key, a session's hash or a user's index,
 * so each runs atomically in one round trip and works unchanged on Redis Cluster. Hash layout: `d:<field>`
 * holds a data field's msgpack bytes; `m:c`, `m:u` and `m:e` hold creation time, last use and expiry (ms,
 * the app servers' clock), `m:v` the schema version, `m:user` the user the session is bound to, if any. The
 * expiry is kept in the hash, beside the key's own, so that a load is a plain HGETALL.
 */

/** KEYS: session. ARGV: now, ttlMs, expiresAt. Extends a record's expiry, never recreating one that is gone, and
 * stamps its last use. A load sends it only when the expiry is due for a refresh. Returns 1 refreshed, 0 gone. */
export const TOUCH_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'm:u', ARGV[1], 'm:e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/*
 * A record moved to a new ID (MOVE_OUT_SCRIPT) is replaced by a string, the moved mark. Every script that
 * writes a session starts with a hash command (HSET, HDEL, HGET) before any other write, so on the mark it
 * fails with WRONGTYPE having changed nothing, which the store reads as 'gone': the plain paths pay no command
 * for the check.
 */

/** KEYS: session. ARGV: mark, markMs. Returns the record's fields and values (HGETALL's reply) and leaves the
 * moved mark in its place for markMs; nil when there is no record of this store's (none, already moved, or a
 * key that is not a session record, which is left alone). */
export const MOVE_OUT_SCRIPT = `
local key = KEYS[1]
if redis.call('TYPE', key).ok ~= 'hash' or redis.call('HEXISTS', key, 'm:c') == 0 then return false end
local record = redis.call('HGETALL', key)
redis.call('DEL', key)
redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
return record
`;

/*
 * The size rule (exceedsMaxSize in store.ts): refused when the record's data, the sum of its 'd:' fields'
 * values, would be over maxSize and larger than it is now. A write that does not grow the record (HSTRLEN of
 * the fields it sets) passes without more; only one that grows it measures the whole record, without HGETALL
 * (which stays the mark of a load in INFO commandstats).
 */
const DATA_SIZE = `
local function dataSize(key)
  local size = 0
  for _, name in ipairs(redis.call('HKEYS', key)) do
    if string.sub(name, 1, 2) == 'd:' then size = size + redis.call('HSTRLEN', key, name) end
  end
  return size
end
`;

/** KEYS: session. ARGV: 'c' (create) or 'u' (update), ttlMs, maxSize, removeCount, fields to remove…, field/value
 * pairs… Returns 1 written, 0 gone (update of a missing record), 2 exists (create of an existing one), {3, size}
 * refused by the size rule. Only a create sets the expiry: an update leaves it to the loads, which refresh it
 * together with the cookie. */
export const WRITE_SCRIPT = `${DATA_SIZE}
local key = KEYS[1]
local exists = redis.call('EXISTS', key)
if ARGV[1] == 'c' then
  if exists == 1 then return 2 end
elseif exists == 0 then
  return 0
end
local removeCount = tonumber(ARGV[4])
local removed = {}
for i = 5, 4 + removeCount do removed[ARGV[i]] = true end
local growth = 0
for i = 5 + removeCount, #ARGV, 2 do
  if string.sub(ARGV[i], 1, 2) == 'd:' then
    growth = growth + #ARGV[i + 1]
    if ARGV[1] == 'u' and not removed[ARGV[i]] then growth = growth - redis.call('HSTRLEN', key, ARGV[i]) end
  end
end
if growth > 0 then
  local before = 0
  if ARGV[1] == 'u' then
    before = dataSize(key)
    for name in pairs(removed) do growth = growth - redis.call('HSTRLEN', key, name) end
  end
  if before + growth > tonumber(ARGV[3]) and growth > 0 then return {3, before + growth} end
end
if removeCount > 0 then redis.call('HDEL', key, unpack(ARGV, 5, 4 + removeCount)) end
if #ARGV > 4 + removeCount then redis.call('HSET', key, unpack(ARGV, 5 + removeCount)) end
if ARGV[1] == 'c' then redis.call('PEXPIRE', key, ARGV[2]) end
return 1
`;

/** KEYS: session. ARGV: field, '1' if expected is given else '0', expected, next, now, maxSize, '1' to remove the
 * field rather than set it to next. Returns {0} gone, {1} swapped (or removed), {2, current} when the field no
 * longer holds the expected bytes, {3, size} refused by the size rule. */
export const COMPARE_AND_SET_SCRIPT = `${DATA_SIZE}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {0} end
local current = redis.call('HGET', key, ARGV[1])
local matches
if ARGV[2] == '1' then matches = current == ARGV[3] else matches = current == false end
if not matches then return {2, current} end
if ARGV[7] == '1' then
  redis.call('HDEL', key, ARGV[1])
  redis.call('HSET', key, 'm:u', ARGV[5])
  return {1}
end
local growth = #ARGV[4] - (current and #current or 0)
if growth > 0 then
  local after = dataSize(key) + growth
  if after > tonumber(ARGV[6]) then return {3, after} end
end
redis.call('HSET', key, ARGV[1], ARGV[4], 'm:u', ARGV[5])
return {1}
`;

/*
 * A user's index is a sorted set of its session IDs, scored by when each session expires at the latest (ms).
 * It sits in another slot than its sessions' hashes, so each script below touches either the index or one
 * session, never both, and the store orders them: the index entry is added before the hash names its user.
 */

/** KEYS: session. ARGV: userId. Returns 0 gone, 1 bound. */
export const BIND_USER_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'm:user', ARGV[1])
return 1
`;

/** KEYS: session. ARGV: userId. Removes the session if it is bound to that user; returns 1 removed, else 0. */
export const REVOKE_USER_SESSION_SCRIPT = `
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
if redis.call('HGET', KEYS[1], 'm:user') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

/** KEYS: user index. ARGV: id, expiresAt, pruneBefore, graceMs. Adds or pushes back an entry (never
 * earlier), drops entries that expired before pruneBefore, and keeps the index until graceMs past its last entry. */
export const INDEX_USER_SESSION_SCRIPT = `
local key = KEYS[1]
local score = redis.call('ZSCORE', key, ARGV[1])
if not score or tonumber(score) < tonumber(ARGV[2]) then redis.call('ZADD', key, ARGV[2], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', key, tonumber(last[2]) + tonumber(ARGV[4]))
`;

/** KEYS: user index. ARGV: pruneBefore. Drops entries that expired before pruneBefore; returns the others' IDs. */
export const LIST_USER_SESSIONS_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;
