/**
 * The Lua scripts behind the Redis store. Each touches exactly one key, a session's hash or a user's index,
 * so each runs atomically in one round trip and works unchanged on Redis Cluster. Hash layout: the fields
 * below, the one place their names are spelled: the store's TypeScript and these scripts' Lua both use them.
 * The expiry is kept in the hash, beside the key's own, so that a load is a plain HGETALL.
 */

import { RECENT_TOKEN_COUNT } from './store.js';

/** The names of a session hash's fields. */
export const HASH = {
  /** Prefix of a data field: `d:<field>` holds the field's msgpack bytes. */
  dataPrefix: 'd:',
  /** Creation time (ms, the app servers' clock). */
  createdAt: 'm:c',
  /** Last write or refresh (ms). */
  lastUsedAt: 'm:u',
  /** Expiry as last set (ms). */
  expiresAt: 'm:e',
  /** The schema version that last wrote the record. */
  schemaVersion: 'm:v',
  /** The user the session is bound to, if any. */
  user: 'm:user',
  /** The session's own lifespan (ms, or 'browser'), if it has one. */
  lifespan: 'm:l',
  /** What identifies the device (the core's JSON), if `bindUser` was given one. */
  device: 'm:dev',
  /** The tokens of the last writes, swaps and binds that changed the record, each after a ',' (see RECENT_TOKENS). */
  tokens: 'm:t',
} as const;

/**
 * What a moved record's key holds for `MOVED_MARK_MS`: this, then ':' and the ID the record was moved to
 * (see MOVE_OUT_SCRIPT).
 */
export const MOVED_MARK = 'trpc-session:moved';
/**
 * What an ended session's key holds for `MOVED_MARK_MS`, in place of the record removed or of the moved mark
 * followed (REVOKE_SESSION_SCRIPT, DESTROY_SESSION_SCRIPT, TRIM_SESSION_SCRIPT): this, then ':' and the ID the end
 * went on to (a moved mark's new ID) or nothing, then a newline and the token of the call that left it (see
 * REVOKED_BY). Read by its prefix.
 */
export const REVOKED_MARK = 'trpc-session:revoked';

/** A Lua string literal of a name above (they hold no quote or backslash). */
const lua = (name: string) => `'${name}'`;

/*
 * Idempotence under a resend (ioredis sends a command again after a reconnection when its reply was lost): a
 * script that changes a record is given a token unique to the call, records it in the hash (HASH.tokens) with
 * the change, and on finding it there answers what the first run did, without changing anything. `seen` reads
 * the list, with the record's schema version (the script's first hash command); `remembered` is the list's new
 * value, written by the change's own HSET.
 */
const RECENT_TOKENS = `
local function hasToken(recent, token)
  -- Every token in the list follows a ','; a match elsewhere (inside a longer token) is not the token. No string is made.
  local from = 1
  while true do
    local at = string.find(recent, token, from, true)
    if not at then return false end
    local after = at + #token
    if string.byte(recent, at - 1) == 44 and (after > #recent or string.byte(recent, after) == 44) then return true end
    from = at + 1
  end
end
local function seen(key, token)
  local stored = redis.call('HMGET', key, ${lua(HASH.tokens)}, ${lua(HASH.schemaVersion)})
  local recent = stored[1] or ''
  return hasToken(recent, token), recent, tonumber(stored[2]) or 0
end
local function remembered(recent, token)
  -- Every writer's token has one length (createWriteToken): a full list is ${RECENT_TOKEN_COUNT} entries of it, cut after the one
  -- before last without searching for it. Any other list is searched, entry by entry.
  local entry = #token + 1
  if #recent == ${RECENT_TOKEN_COUNT} * entry and string.byte(recent, ${RECENT_TOKEN_COUNT - 1} * entry + 1) == 44 then
    return ',' .. token .. string.sub(recent, 1, ${RECENT_TOKEN_COUNT - 1} * entry)
  end
  local at = 0
  for _ = 1, ${RECENT_TOKEN_COUNT} do
    at = string.find(recent, ',', at + 1, true)
    if not at then return ',' .. token .. recent end
  end
  return ',' .. token .. string.sub(recent, 1, at - 1)
end
`;

/** KEYS: session. ARGV: now, ttlMs, expiresAt. Pushes back a record's expiry, never to earlier than it is and never
 * recreating one that is gone, and stamps its last use. A load sends it only when the expiry is due for a refresh, so
 * a touch is never meant to bring it forward: one that finds the expiry already as late (the same touch sent again
 * after a lost reply, landing after a later touch or write) changes nothing. Returns 1 refreshed (or as late), 0 gone. */
export const TOUCH_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local expiresAt = tonumber(redis.call('HGET', KEYS[1], ${lua(HASH.expiresAt)}))
if expiresAt and expiresAt >= tonumber(ARGV[3]) then return 1 end
redis.call('HSET', KEYS[1], ${lua(HASH.lastUsedAt)}, ARGV[1], ${lua(HASH.expiresAt)}, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/*
 * A record moved to a new ID (MOVE_OUT_SCRIPT) is replaced by a string, the moved mark. Every script that
 * writes a session starts with a hash command (HSET, HDEL, HGET) before any other write, so on the mark it
 * fails with WRONGTYPE having changed nothing, which the store reads as 'gone': the plain paths pay no command
 * for the check.
 */

/** KEYS: session. ARGV: mark (MOVED_MARK, then ':' and the new ID), markMs, '1' when the mark names the new ID. Returns the record's fields and values
 * (HGETALL's reply) and leaves the moved mark in its place for markMs; nil when there is no record of this store's (none, already moved, or a
 * key that is not a session record, which is left alone). A mark that names the new ID keeps the record taken, after
 * a newline (MessagePack): the same move sent again (the new ID is unique to it) answers it again. */
export const MOVE_OUT_SCRIPT = `
local key = KEYS[1]
-- HGETALL first: a record's move reads nothing else; only a key that is not a hash (the error) is looked at again.
local record = redis.pcall('HGETALL', key)
if record.err then
  if ARGV[3] ~= '1' then return false end
  local mark = redis.pcall('GET', key)
  if type(mark) == 'string' and string.sub(mark, 1, #ARGV[1] + 1) == ARGV[1] .. '\\n' then return cmsgpack.unpack(string.sub(mark, #ARGV[1] + 2)) end
  return false
end
local created = false
for i = 1, #record, 2 do
  if record[i] == ${lua(HASH.createdAt)} then
    created = true
    break
  end
end
if not created then return false end
-- SET replaces the hash, whatever the key held.
redis.call('SET', key, ARGV[3] == '1' and ARGV[1] .. '\\n' .. cmsgpack.pack(record) or ARGV[1], 'PX', ARGV[2])
return record
`;

/*
 * The size rule (exceedsMaxSize in store.ts): refused when the record's data, the sum of its data fields'
 * values, would be over maxSize and larger than it is now. A write that does not grow the record (HSTRLEN of
 * the fields it sets) passes without more; only one that grows it measures the whole record, without HGETALL
 * (which stays the mark of a load in INFO commandstats).
 */
const DATA_SIZE = `
local function dataSize(key)
  local size = 0
  for _, name in ipairs(redis.call('HKEYS', key)) do
    if string.sub(name, 1, ${HASH.dataPrefix.length}) == ${lua(HASH.dataPrefix)} then size = size + redis.call('HSTRLEN', key, name) end
  end
  return size
end
`;

/** KEYS: session. ARGV: 'c' (create), 'u' (update) or 'e' (update expecting the record as read), ttlMs, maxSize,
 * removeCount, dataCount, fields to remove…, with 'e' the expected schema version, expected field count and
 * field/value pairs…, then the dataCount data field/value pairs to set, the metadata pairs to set… Returns 1 written,
 * 0 gone (update of a missing record, or of a key that is not a session record; create over a revoked mark), 2
 * exists (create of an existing one), {3, size} refused by the size rule, 4 stale ('e': the record is not as
 * expected, nothing written), 5 newer (an update of a record written by a higher schema version than the write's,
 * which is an update's last pair, nothing written). After the pairs, the token (see RECENT_TOKENS: 1 again for a
 * token the record holds). Only a create sets the expiry: an update leaves it to the loads, which refresh it
 * together with the cookie. An update reads all it checks in one HMGET (the creation time, which every record
 * has, the tokens, the version, the values it replaces and, with 'e', those it expects). */
export const WRITE_SCRIPT = `${DATA_SIZE}${RECENT_TOKENS}
local key = KEYS[1]
local last = #ARGV - 1
local token = ARGV[last + 1]
local removeCount = tonumber(ARGV[4])
local dataCount = tonumber(ARGV[5])
local first = 6 + removeCount
if ARGV[1] == 'c' then
  if redis.call('EXISTS', key) == 1 then
    -- A failed move puts its record back over its own moved mark; nothing gets past a revoked mark.
    if redis.call('TYPE', key).ok ~= 'string' then
      if seen(key, token) then return 1 end
      return 2
    end
    local mark = redis.call('GET', key)
    if string.sub(mark, 1, ${REVOKED_MARK.length}) == ${lua(REVOKED_MARK)} then return 0 end
    if string.sub(mark, 1, ${MOVED_MARK.length}) ~= ${lua(MOVED_MARK)} then return 2 end
    redis.call('DEL', key)
  end
  local size = 0
  for i = first + 1, first + 2 * dataCount - 1, 2 do size = size + #ARGV[i] end
  if size > tonumber(ARGV[3]) then return {3, size} end
  redis.call('HSET', key, ${lua(HASH.tokens)}, ',' .. token, unpack(ARGV, first, last))
  redis.call('PEXPIRE', key, ARGV[2])
  return 1
end
local expectCount = 0
if ARGV[1] == 'e' then
  expectCount = tonumber(ARGV[first + 1])
  first = first + 2 + 2 * expectCount
end
-- A hash command first: on a mark it fails with WRONGTYPE, having changed nothing.
local stored
if dataCount == 1 and expectCount == 0 then
  stored = redis.call('HMGET', key, ${lua(HASH.createdAt)}, ${lua(HASH.tokens)}, ${lua(HASH.schemaVersion)}, ARGV[first])
else
  local read = {key, ${lua(HASH.createdAt)}, ${lua(HASH.tokens)}, ${lua(HASH.schemaVersion)}}
  for i = first, first + 2 * dataCount - 2, 2 do read[#read + 1] = ARGV[i] end
  for i = 8 + removeCount, 6 + removeCount + 2 * expectCount, 2 do read[#read + 1] = ARGV[i] end
  stored = redis.call('HMGET', unpack(read))
end
if not stored[1] then return 0 end
local recent = stored[2] or ''
if hasToken(recent, token) then return 1 end
local version = tonumber(stored[3]) or 0
if version > tonumber(ARGV[last]) then return 5 end
if ARGV[1] == 'e' then
  if version ~= tonumber(ARGV[6 + removeCount]) then return 4 end
  local dataFields = 0
  for _, name in ipairs(redis.call('HKEYS', key)) do
    if string.sub(name, 1, ${HASH.dataPrefix.length}) == ${lua(HASH.dataPrefix)} then dataFields = dataFields + 1 end
  end
  if dataFields ~= expectCount then return 4 end
  for j = 1, expectCount do
    if stored[3 + dataCount + j] ~= ARGV[7 + removeCount + 2 * j] then return 4 end
  end
end
local removed
if removeCount > 0 then
  removed = {}
  for i = 6, 5 + removeCount do removed[ARGV[i]] = true end
end
local growth = 0
for j = 1, dataCount do
  local at = first + 2 * j - 2
  growth = growth + #ARGV[at + 1]
  if stored[3 + j] and not (removed and removed[ARGV[at]]) then growth = growth - #stored[3 + j] end
end
if growth > 0 then
  local before = dataSize(key)
  if removed then
    for name in pairs(removed) do growth = growth - redis.call('HSTRLEN', key, name) end
  end
  if before + growth > tonumber(ARGV[3]) and growth > 0 then return {3, before + growth} end
end
if removeCount > 0 then redis.call('HDEL', key, unpack(ARGV, 6, 5 + removeCount)) end
redis.call('HSET', key, ${lua(HASH.tokens)}, remembered(recent, token), unpack(ARGV, first, last))
return 1
`;

/** KEYS: session. ARGV: field, '1' if expected is given else '0', expected, next, now, maxSize, '1' to remove the
 * field rather than set it to next, token (see RECENT_TOKENS), the writer's schema version or ''. Returns {0} gone,
 * {1} swapped (or removed; again for a token the record holds), {2, current} when the field no longer holds the
 * expected bytes, {3, size} refused by the size rule, {5} newer (a record written by a higher schema version). */
export const COMPARE_AND_SET_SCRIPT = `${DATA_SIZE}${RECENT_TOKENS}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {0} end
local done, recent, version = seen(key, ARGV[8])
if done then return {1} end
if ARGV[9] ~= '' and version > tonumber(ARGV[9]) then return {5} end
local current = redis.call('HGET', key, ARGV[1])
local matches
if ARGV[2] == '1' then matches = current == ARGV[3] else matches = current == false end
if not matches then return {2, current} end
if ARGV[7] == '1' then
  redis.call('HDEL', key, ARGV[1])
  redis.call('HSET', key, ${lua(HASH.lastUsedAt)}, ARGV[5], ${lua(HASH.tokens)}, remembered(recent, ARGV[8]))
  return {1}
end
local growth = #ARGV[4] - (current and #current or 0)
if growth > 0 then
  local after = dataSize(key) + growth
  if after > tonumber(ARGV[6]) then return {3, after} end
end
redis.call('HSET', key, ARGV[1], ARGV[4], ${lua(HASH.lastUsedAt)}, ARGV[5], ${lua(HASH.tokens)}, remembered(recent, ARGV[8]))
return {1}
`;

/*
 * A user's index is a sorted set of its session IDs, scored by when each session expires at the latest (ms).
 * It sits in another slot than its sessions' hashes, so each script below touches either the index or one
 * session, never both, and the store orders them: the index entry is added before the hash names its user.
 */

/** KEYS: session. ARGV: userId, device ('' for none), token (see RECENT_TOKENS: a bind sent again after a lost reply,
 * landing after another request's bind, answers 1 and leaves the later bind alone). Returns 0 gone, 1 bound. */
export const BIND_USER_SCRIPT = `${RECENT_TOKENS}
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local done, recent = seen(key, ARGV[3])
if done then return 1 end
redis.call('HSET', key, ${lua(HASH.user)}, ARGV[1], ${lua(HASH.tokens)}, remembered(recent, ARGV[3]))
if ARGV[2] == '' then redis.call('HDEL', key, ${lua(HASH.device)}) else redis.call('HSET', key, ${lua(HASH.device)}, ARGV[2]) end
return 1
`;

/*
 * Idempotence of the steps that end a session (destroy, revoke, trim) under a resend: each call draws a token, and
 * every revoked mark a step leaves names it, with where the step led; a record is never just deleted, but replaced
 * by the revoked mark, for markMs. A step that finds a revoked mark of its own call answers as its first run did:
 * {2, id} to go on to the same ID, or {1} where the session ended, so the end is told once. A mark left by another
 * call answers {0}: that call ended the session, and told it. `revokedBy` returns the ID the mark led to ('' for
 * none) when the mark is the call's own, nil otherwise; `revokedMark` makes one.
 */
const REVOKED_BY = `
local function revokedBy(mark, token)
  if string.sub(mark, 1, ${REVOKED_MARK.length}) ~= ${lua(REVOKED_MARK)} then return nil end
  local body = string.sub(mark, ${REVOKED_MARK.length + 1})
  local stop = string.find(body, '\\n', 1, true)
  if not stop or string.sub(body, stop + 1) ~= token then return nil end
  return string.sub(body, 2, stop - 1)
end
local function revokedMark(to, token)
  return ${lua(REVOKED_MARK)} .. (to == '' and '' or ':' .. to) .. '\\n' .. token
end
`;

/**
 * KEYS: session. ARGV: userId, keep (an ID not to follow a move to, or ''), '1' when the key is where a move
 * led, markMs, token (see REVOKED_BY). Ends one session of the user: a record bound to the user is replaced by the
 * revoked mark for markMs ({1}); a moved mark that names a new ID other than keep becomes the revoked mark (its
 * expiry kept) and the new ID is returned ({2, id}) for the caller to end there in turn. Where a move led and
 * nothing is there yet, the revoked mark is set for markMs, so the move's create (WRITE_SCRIPT) is refused ({1}).
 * The call's own revoked mark: what its first run answered. Anything else: {0}.
 */
export const REVOKE_SESSION_SCRIPT = `${REVOKED_BY}
local key = KEYS[1]
local kind = redis.call('TYPE', key).ok
if kind == 'hash' then
  if redis.call('HGET', key, ${lua(HASH.user)}) ~= ARGV[1] then return {0} end
  redis.call('SET', key, revokedMark('', ARGV[5]), 'PX', ARGV[4])
  return {1}
end
if kind == 'string' then
  local mark = redis.call('GET', key)
  local own = revokedBy(mark, ARGV[5])
  if own == '' then return {1} elseif own then return {2, own} end
  local prefix = ${lua(MOVED_MARK + ':')}
  if string.sub(mark, 1, #prefix) ~= prefix then return {0} end
  -- The new ID ends where the copy of the record taken starts (MOVE_OUT_SCRIPT).
  local stop = string.find(mark, '\\n', #prefix + 1, true)
  local to = string.sub(mark, #prefix + 1, stop and stop - 1 or -1)
  if to == ARGV[2] then return {0} end
  redis.call('SET', key, revokedMark(to, ARGV[5]), 'KEEPTTL')
  return {2, to}
end
if kind == 'none' and ARGV[3] == '1' then
  redis.call('SET', key, revokedMark('', ARGV[5]), 'PX', ARGV[4])
  return {1}
end
return {0}
`;

/**
 * KEYS: session. ARGV: '1' when the key is where a move led, markMs, token (see REVOKED_BY). Ends a session for
 * destroy(): a record is replaced by the revoked mark for markMs ({1}); a moved mark becomes the revoked mark (its
 * expiry kept) and the ID it names, if any, is returned ({2, id}) for the caller to end there in turn. Where a move
 * led and nothing is there yet, the revoked mark is set for markMs, so the move's create (WRITE_SCRIPT) is refused
 * ({1}). The call's own revoked mark: what its first run answered. Anything else (another call's revoked mark, a
 * key not of this store's): {0}, left alone.
 */
export const DESTROY_SESSION_SCRIPT = `${REVOKED_BY}
local key = KEYS[1]
local kind = redis.call('TYPE', key).ok
if kind == 'hash' then
  redis.call('SET', key, revokedMark('', ARGV[3]), 'PX', ARGV[2])
  return {1}
end
if kind == 'string' then
  local mark = redis.call('GET', key)
  local own = revokedBy(mark, ARGV[3])
  if own == '' then return {1} elseif own then return {2, own} end
  local moved = ${lua(MOVED_MARK)}
  if string.sub(mark, 1, #moved) ~= moved then return {0} end
  -- The new ID ends where the copy of the record taken starts (MOVE_OUT_SCRIPT).
  local stop = string.find(mark, '\\n', #moved + 2, true)
  local to = #mark == #moved and '' or string.sub(mark, #moved + 2, stop and stop - 1 or -1)
  redis.call('SET', key, revokedMark(to, ARGV[3]), 'KEEPTTL')
  if to == '' then return {1} end
  return {2, to}
end
if kind == 'none' and ARGV[1] == '1' then
  redis.call('SET', key, revokedMark('', ARGV[3]), 'PX', ARGV[2])
  return {1}
end
return {0}
`;

/** KEYS: user index. ARGV: id, expiresAt, pruneBefore, graceMs. Adds or pushes back an entry (never
 * earlier), drops entries that expired before pruneBefore, and keeps the index until graceMs past its last entry. */
export const INDEX_USER_SESSION_SCRIPT = `
local key = KEYS[1]
local score = redis.call('ZSCORE', key, ARGV[1])
if not score or tonumber(score) < tonumber(ARGV[2]) then redis.call('ZADD', key, ARGV[2], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[3])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
-- Empty when every entry, the one just added too, expired before pruneBefore: Redis removed the key then.
if last[2] then redis.call('PEXPIREAT', key, tonumber(last[2]) + tonumber(ARGV[4])) end
`;

/**
 * KEYS: session. ARGV: userId, markMs, token (see REVOKED_BY). Ends one session of the user to keep them within
 * `maxSessionsPerUser`: a record bound to the user is replaced by the revoked mark for markMs (1), which the same
 * step sent again answers with 1 again. Any other mark (the old ID of a session just moved, or one revoked by
 * another call) is left alone (2): the session it led to has an entry of its own. Anything else, no record of the
 * user's there, is 0.
 */
export const TRIM_SESSION_SCRIPT = `${REVOKED_BY}
local key = KEYS[1]
local kind = redis.call('TYPE', key).ok
if kind == 'string' then
  if revokedBy(redis.call('GET', key), ARGV[3]) == '' then return 1 end
  return 2
end
if kind ~= 'hash' or redis.call('HGET', key, ${lua(HASH.user)}) ~= ARGV[1] then return 0 end
redis.call('SET', key, revokedMark('', ARGV[3]), 'PX', ARGV[2])
return 1
`;
