// The Lua scripts of the Redis engine. Each runs atomically in Redis, so whatever one
// script does to a room (a seq, a member, an event) is seen by every instance in the same
// order. Every script takes the room's seven keys, in this order:
//
//   KEYS[1] meta    hash: epoch, seq (the last message's), order (the last event's)
//   KEYS[2] log     list: the retained messages, as JSON, oldest first; a deleted one
//                   leaves an empty string in its place, so that positions follow from seqs
//   KEYS[3] members hash: member id -> member JSON
//   KEYS[4] alive   sorted set: instance -> when it stops counting as alive (ms)
//   KEYS[5] conns   hash: "<member id>|<instance>" -> the member's connections there
//   KEYS[6] counts  hash: member id -> its connections on all instances
//   KEYS[7] bans    hash: member id -> when its ban from the room ends (ms); kept when the
//                   room's other keys go, and expires with the last ban
//
// A member with a token may have several connections (tabs), on several instances: it
// joins with its first and leaves with its last, and an instance that dies takes only its
// own connections along.
//
// Keys and channel share the hash tag {room}, so that a Redis Cluster could keep a room on
// one shard. Events go out with SPUBLISH as "<epoch>|<order>|<member it is about>|<frame JSON>",
// several in one publish separated by newlines (JSON text has none of its own). A kick is
// an event with an empty frame: the member it is about is closed on every instance.

/** What every script starts with. */
const PRELUDE = `#!lua
local meta, log, members, alive, conns, counts, bans = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]

local function now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- The room's epoch. With 'create', a room without one (new, or its data lost) gets a new
-- one, made of Redis's clock to the microsecond, so that it never comes back; and the
-- messages of an epoch that is gone go with it.
local function epochOf(create)
  local epoch = redis.call('HGET', meta, 'epoch')
  if epoch or not create then return epoch end
  local time = redis.call('TIME')
  epoch = string.format('%x%05x', tonumber(time[1]), tonumber(time[2]))
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0, 'order', 0)
  redis.call('DEL', log)
  return epoch
end

-- Keeps the room's keys for ttl ms more, or for ever with 0 (the bans key keeps its own
-- time): whatever members or messages do renews it, so only a room left alone expires.
-- Without 'keys', all of them.
local function keep(ttl, keys)
  for _, key in ipairs(keys or {meta, log, members, alive, conns, counts}) do
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
  end
end

local function event(epoch, order, about, frame)
  return epoch .. '|' .. order .. '|' .. about .. '|' .. frame
end

local function emit(channel, epoch, about, frame)
  local order = redis.call('HINCRBY', meta, 'order', 1)
  redis.call('SPUBLISH', channel, event(epoch, order, about, frame))
  return order
end

-- One more connection of a member on an instance; true when it is the member's first.
local function connect(id, instance)
  redis.call('HINCRBY', conns, id .. '|' .. instance, 1)
  return redis.call('HINCRBY', counts, id, 1) == 1
end

-- 'n' connections of a member on an instance are gone; the member's JSON when they were its
-- last anywhere (it has left the room), else nil.
local function disconnect(id, instance, n)
  local field = id .. '|' .. instance
  if redis.call('HINCRBY', conns, field, -n) <= 0 then redis.call('HDEL', conns, field) end
  if redis.call('HINCRBY', counts, id, -n) > 0 then return nil end
  redis.call('HDEL', counts, id)
  local json = redis.call('HGET', members, id)
  redis.call('HDEL', members, id)
  return json
end

local function presence(channel, epoch, event, id, json)
  local frame = '{"type":"presence","event":"' .. event .. '","member":' .. json ..
    ',"count":' .. redis.call('HLEN', members) .. '}'
  return emit(channel, epoch, id, frame)
end

-- The connections of instances that stopped renewing their place go; members left with
-- none leave, each announced once: only the script that removes a member announces it.
local function reap(channel, epoch)
  local dead = redis.call('ZRANGEBYSCORE', alive, '-inf', now())
  if #dead == 0 then return end
  redis.call('ZREMRANGEBYSCORE', alive, '-inf', now())
  local gone = {}
  for _, instance in ipairs(dead) do gone[instance] = true end
  local all = redis.call('HGETALL', conns)
  for i = 1, #all, 2 do
    local id, instance = string.match(all[i], '^(.*)|([^|]*)$')
    if gone[instance] then
      local json = disconnect(id, instance, tonumber(all[i + 1]))
      if json and epoch then presence(channel, epoch, 'leave', id, json) end
    end
  end
end

-- Retained messages, oldest first, at most 'limit': the first after 'since', the last
-- before 'before', or the latest ('' for either means not given). Deleted messages are
-- passed over, and the next ones read in their place.
local function slice(since, before, limit)
  local seq = tonumber(redis.call('HGET', meta, 'seq') or '0')
  local oldest = seq - redis.call('LLEN', log) + 1
  local last = seq
  if before ~= '' then last = math.min(seq, tonumber(before) - 1) end
  local found = {}
  if since ~= '' then
    local first = math.max(tonumber(since) + 1, oldest)
    while first <= last and #found < limit do
      local upto = math.min(last, first + limit - #found - 1)
      for _, message in ipairs(redis.call('LRANGE', log, first - oldest, upto - oldest)) do
        if message ~= '' then found[#found + 1] = message end
      end
      first = upto + 1
    end
    return found
  end
  while last >= oldest and #found < limit do
    local from = math.max(oldest, last - (limit - #found) + 1)
    local chunk = redis.call('LRANGE', log, from - oldest, last - oldest)
    for i = #chunk, 1, -1 do
      if chunk[i] ~= '' then found[#found + 1] = chunk[i] end
    end
    last = from - 1
  end
  local ordered = {}
  for i = #found, 1, -1 do ordered[#ordered + 1] = found[i] end
  return ordered
end

local function roster()
  return '[' .. table.concat(redis.call('HVALS', members), ',') .. ']'
end

-- A room that never had a message and has nobody left is removed.
local function removeIfEmpty()
  if redis.call('HLEN', members) > 0 or tonumber(redis.call('HGET', meta, 'seq') or '0') > 0 then return false end
  redis.call('DEL', meta, alive, members, conns, counts)
  return true
end
`;

/**
 * Stores messages under the next seqs, in order, and publishes them in one go. ARGV:
 * retention, channel, a message's JSON up to its seq, the deadline (ms on Redis's clock, or
 * ''), the room's time to live (ms), then each message's rest after its id. Returns
 * [epoch, the last seq], or ['late'] when the deadline has passed: its sender has been told
 * it failed, so it must not be stored.
 */
export const APPEND = `${PRELUDE}
local deadline = tonumber(ARGV[4])
if deadline and now() > deadline then return {'late'} end
local epoch = epochOf(true)
local retention, channel, head = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local count = #ARGV - 5
local last = redis.call('HINCRBY', meta, 'seq', count)
local order = redis.call('HINCRBY', meta, 'order', count) - count
local messages, events = {}, {}
for i = 1, count do
  local seq = last - count + i
  messages[i] = head .. seq .. ',"id":"m_' .. epoch .. '_' .. seq .. '",' .. ARGV[5 + i]
  events[i] = event(epoch, order + i, '', messages[i])
end
if retention > 0 then
  redis.call('RPUSH', log, unpack(messages))
  redis.call('LTRIM', log, -retention, -1)
end
redis.call('SPUBLISH', channel, table.concat(events, '\\n'))
-- The member keys exist only while members do, and their instances' heartbeats renew them.
keep(tonumber(ARGV[5]), {meta, log})
return {epoch, last}
`;

/**
 * Adds a member, announces it, and answers with its welcome's contents in the same step.
 * ARGV: channel, instance, member id, member JSON, alive until (ms from now),
 * since ('' if not given), the client's epoch, history limit, retention, most members, the
 * room's time to live (ms).
 * Returns [epoch, seq, order, history (list of JSON), members JSON, recovered ('1', '0' or
 * '')], or ['full'] when the room has no place left.
 */
export const JOIN = `${PRELUDE}
local epoch = epochOf(true)
local channel, instance, id, json = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
reap(channel, epoch)
local present = redis.call('HEXISTS', members, id) == 1
if not present and redis.call('HLEN', members) >= tonumber(ARGV[10]) then return {'full'} end
redis.call('ZADD', alive, now() + tonumber(ARGV[5]), instance)
local order
if connect(id, instance) then
  redis.call('HSET', members, id, json)
  order = presence(channel, epoch, 'join', id, json)
else
  order = tonumber(redis.call('HGET', meta, 'order'))
end
local seq = tonumber(redis.call('HGET', meta, 'seq'))
local limit, retention = tonumber(ARGV[8]), tonumber(ARGV[9])
local since, recovered = ARGV[6], ''
local history
if since == '' then
  history = slice('', '', limit)
else
  local missed = seq - tonumber(since)
  local kept = redis.call('LLEN', log)
  local whole = ARGV[7] == epoch and missed >= 0 and missed <= math.min(limit, retention) and missed <= kept
  recovered = whole and '1' or '0'
  history = whole and slice(since, '', limit) or slice('', '', limit)
end
keep(tonumber(ARGV[11]))
return {epoch, seq, order, history, roster(), recovered}
`;

/**
 * A connection of a member leaves; with its last one the member leaves (announced), and a
 * room that never had a message and has nobody left is removed. ARGV: channel, member id,
 * instance. Returns 1 when the member left.
 */
export const LEAVE = `${PRELUDE}
local channel, id, instance = ARGV[1], ARGV[2], ARGV[3]
-- Not counted here (the instance was renamed after a break): the reaper takes it.
if not redis.call('HGET', conns, id .. '|' .. instance) then return 0 end
local json = disconnect(id, instance, 1)
if not json then return 0 end
local epoch = epochOf(false)
if epoch then presence(channel, epoch, 'leave', id, json) end
removeIfEmpty()
return 1
`;

/** A member's new name. ARGV: channel, member id, member JSON. */
export const RENAME = `${PRELUDE}
local epoch = epochOf(false)
if redis.call('HEXISTS', members, ARGV[2]) == 0 or not epoch then return 0 end
redis.call('HSET', members, ARGV[2], ARGV[3])
presence(ARGV[1], epoch, 'rename', ARGV[2], ARGV[3])
return 1
`;

/** An event that is only passed on (typing). ARGV: channel, member id, frame JSON. */
export const SIGNAL = `${PRELUDE}
local epoch = epochOf(false)
if not epoch then return 0 end
emit(ARGV[1], epoch, ARGV[2], ARGV[3])
return 1
`;

/**
 * An instance renews its place in a room and reaps the members of instances that did not.
 * ARGV: channel, instance, alive until (ms from now), the room's time to live (ms). Returns
 * the epoch ('' when the room's data is gone) and 1 when the instance was still counted as
 * alive, else 0.
 */
export const HEARTBEAT = `${PRELUDE}
local epoch = epochOf(false)
local known = redis.call('ZSCORE', alive, ARGV[2])
reap(ARGV[1], epoch)
redis.call('ZADD', alive, now() + tonumber(ARGV[3]), ARGV[2])
keep(tonumber(ARGV[4]))
return {epoch or '', known and 1 or 0}
`;

/** This instance holds no members of the room any more. ARGV: instance. */
export const RELEASE = `${PRELUDE}
redis.call('ZREM', alive, ARGV[1])
`;

/**
 * Deletes a retained message and tells the room. ARGV: channel, seq, the deleted frame's
 * JSON. Returns 1, or 0 when there is no such message.
 */
export const REMOVE = `${PRELUDE}
local epoch = epochOf(false)
if not epoch then return 0 end
local target = tonumber(ARGV[2])
local seq = tonumber(redis.call('HGET', meta, 'seq'))
local oldest = seq - redis.call('LLEN', log) + 1
if target < oldest or target > seq or redis.call('LINDEX', log, target - oldest) == '' then return 0 end
redis.call('LSET', log, target - oldest, '')
emit(ARGV[1], epoch, '', ARGV[3])
return 1
`;

/**
 * Closes a member's connections on every instance, and bans it when asked. ARGV: channel,
 * member id, ban in ms ('' for none). Returns 1, or 0 when it is not a member.
 */
export const KICK = `${PRELUDE}
local epoch = epochOf(false)
if not epoch or redis.call('HEXISTS', members, ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then
  local at = now()
  redis.call('HSET', bans, ARGV[2], at + tonumber(ARGV[3]))
  local latest = 0
  local all = redis.call('HGETALL', bans)
  for i = 1, #all, 2 do
    local ends = tonumber(all[i + 1])
    if ends <= at then redis.call('HDEL', bans, all[i]) else latest = math.max(latest, ends) end
  end
  redis.call('PEXPIREAT', bans, latest)
end
emit(ARGV[1], epoch, ARGV[2], '')
return 1
`;

/** When a member's ban ends (ms), or nothing when it is not banned. ARGV: member id. */
export const BANNED = `${PRELUDE}
local ends = tonumber(redis.call('HGET', bans, ARGV[1]) or '0')
if ends <= now() then return nil end
return ends
`;

/**
 * What readers see: [epoch, seq, members JSON], or nothing when the room has neither
 * members nor messages. ARGV: channel.
 */
export const INFO = `${PRELUDE}
local epoch = epochOf(false)
reap(ARGV[1], epoch)
if not epoch then return nil end
-- Its last members may have been reaped just now.
if removeIfEmpty() then return nil end
return {epoch, tonumber(redis.call('HGET', meta, 'seq')), roster()}
`;

/**
 * A page of messages: [epoch, messages (list of JSON)], or nothing when the room does not
 * exist. ARGV: since, before ('' when not given), limit.
 */
export const MESSAGES = `${PRELUDE}
local epoch = epochOf(false)
if not epoch then return nil end
return {epoch, slice(ARGV[1], ARGV[2], tonumber(ARGV[3]))}
`;
