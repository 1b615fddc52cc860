-- Shared by the queue scripts; prepended after lib/common.lua and lib/concert.lua at build
-- time (src/store/scripts.rs). Nothing here raises an error, so a script may call these
-- after its checks.

-- The waiting line `q:line` is one sorted set: member the user id, score
--   offset * LINE_SLOTS + slot
-- where `offset` is the entry's seq minus the line's base in `q:entries` (so the set is
-- ordered first come, first served, and the seq comes back exactly) and `slot` is the
-- second of the buyer's latest sign of life (issue or poll), modulo LINE_SLOTS (68
-- minutes). One entry per waiting buyer carries both the order and the presence: no
-- second set. A seq is the Redis clock in microseconds at entry (made unique), so offsets
-- stay below 2^41 (25 days) and scores below 2^53, exact in a double, as long as the line
-- has not been non-empty for 25 days on end: the base moves up to the clock whenever an
-- entry finds the line empty.
--
-- A pre-queue's opening reserves the offsets below its size `pre` (in `q:entries`): the
-- entry of HMAC rank r gets offset r, and the base moves to `pre` below the clock at the
-- opening, so every later entry's offset is above the reserved ones. A pre-queue entry's
-- seq is the draw's epoch `preSeq` (its token's seq), not base + offset. While the
-- opening runs (`opening` in `q:entries`) the base never moves, even on an empty line.
local LINE_SLOTS = 4096
-- How long an eviction from the line is listed in `q:evicted` for the servers' snapshots
-- (each server takes one every tick, so any window of a few ticks would do).
local EVICTED_LISTED_MS = 60000
local SLOT_MS = 1000
local MAX_OFFSET = 2199023255552 -- 2^41

local function presence_slot(now_ms)
  return math.floor(now_ms / SLOT_MS) % LINE_SLOTS
end

local function line_score(offset, slot)
  return offset * LINE_SLOTS + slot
end

local function line_offset(score)
  return math.floor(score / LINE_SLOTS)
end

-- Whether a waiter whose line score is `score` has surely been silent for longer than
-- `idle_ms` (never when idle_ms is 0). Seconds are whole: a sign of life in slot s came
-- before (s + 1) * SLOT_MS, so s counts as idle once (now_slot - s - 1) * SLOT_MS >=
-- idle_ms, which is at most 2 s (plus idle_ms rounded up to a second) after the last sign
-- of life. WAIT_IDLE_TIMEOUT_SECS is capped well below the 68-minute wrap
-- (src/config.rs), leaving the sweep ample time.
local function is_idle(score, now_slot, idle_ms)
  if idle_ms <= 0 then
    return false
  end
  local silent = (now_slot - score % LINE_SLOTS) % LINE_SLOTS
  return (silent - 1) * SLOT_MS >= idle_ms
end

-- The line score of `user` while it waits and is live; nil when it is not in the line, or
-- when it has been silent past the idle timeout: such a waiter is over however it comes
-- back (its token reads EXPIRED, and joining again enters at the back). Writes nothing.
local function live_line_score(line_key, user, now_slot, idle_ms)
  local score = tonumber(redis.call('ZSCORE', line_key, user))
  if score and is_idle(score, now_slot, idle_ms) then
    return nil
  end
  return score
end

-- Records a sign of life of the waiter at `score`. Writes only when the second changed,
-- so rapid polls cost no write.
local function mark_present(line_key, user, score, now_slot)
  if score % LINE_SLOTS ~= now_slot then
    redis.call('ZADD', line_key, 'XX', int(line_score(line_offset(score), now_slot)), user)
  end
end

-- How the line's offsets map back to seqs: the base, and the offsets reserved for an
-- opened pre-queue (`pre`, whose entries' seq is `pre_seq`).
local function line_state(entries_key)
  local e = redis.call('HMGET', entries_key, 'base', 'pre', 'preSeq')
  return {base = tonumber(e[1]), pre = tonumber(e[2]) or 0, pre_seq = tonumber(e[3])}
end

-- The seq of the waiting entry at `score` (the seq its token carries).
local function entry_seq(state, score)
  local offset = line_offset(score)
  if offset < state.pre then
    return state.pre_seq
  end
  return state.base + offset
end

-- The next entry's seq: the Redis clock in microseconds, or one more than the last seq
-- when two arrive within the same microsecond; and its offset in the line, moving the
-- base up to it when the line is empty (never while a pre-queue is opening; the reserved
-- offsets go with the old base). Returns nil when the line has been non-empty for 25 days
-- on end and the offset no longer fits.
local function next_entry(entries_key, line_key, now_us)
  local e = redis.call('HMGET', entries_key, 'base', 'last', 'opening')
  local base, last = tonumber(e[1]), tonumber(e[2]) or 0
  local seq = math.max(last + 1, now_us)
  if not base or (not e[3] and redis.call('ZCARD', line_key) == 0) then
    base = seq
    redis.call('HDEL', entries_key, 'pre', 'preSeq')
  end
  if seq - base >= MAX_OFFSET then
    return nil
  end
  redis.call('HSET', entries_key, 'base', int(base), 'last', int(seq))
  return seq, seq - base
end

-- The queue keys, named, in the order src/store/keys.rs QueueKeys passes them (the
-- concert's outbox, 13, only to the scripts that append events; `outbox` nil elsewhere),
-- and the concert's hash tag.
local function queue_keys()
  local tag = string.sub(KEYS[1], 1, -6)
  return {meta = KEYS[1], line = KEYS[2], active = KEYS[3], active_seq = KEYS[4],
    entries = KEYS[5], bucket = KEYS[6], stats = KEYS[7], settings = KEYS[8], life = KEYS[9],
    pre = KEYS[10], gone = KEYS[11], events = KEYS[12], outbox = KEYS[13],
    -- Built here, in the concert's slot: the buyers evicted from the line lately.
    evicted = tag .. ':q:evicted',
    tag = tag, concert = string.match(KEYS[1], '{c:(%d+)}')}
end

-- The queue settings in force: the concert's own (`q:settings`, written by the admin
-- script), else the environment's defaults every queue script takes as ARGV 1 to 5
-- (max_active, admit_per_sec, active_ttl_ms, idle_timeout_ms, admit_per_available_seat).
-- Times in milliseconds.
local function queue_settings(settings_key)
  local s = redis.call('HMGET', settings_key, 'maxActive', 'admitPerSec', 'activeTtlSecs',
    'idleTimeoutSecs', 'paused', 'opensAt')
  local ttl, idle = tonumber(s[3]), tonumber(s[4])
  return {
    max_active = tonumber(s[1]) or tonumber(ARGV[1]),
    rate = tonumber(s[2]) or tonumber(ARGV[2]),
    ttl_ms = ttl and ttl * 1000 or tonumber(ARGV[3]),
    idle_ms = idle and idle * 1000 or tonumber(ARGV[4]),
    per_seat = tonumber(ARGV[5]),
    paused = s[5] == '1',
    opens_at = tonumber(s[6]),
  }
end

-- The admission bucket holds a quarter second of admissions (at least one), enough to
-- cover the gap between ticks without letting a burst outrun the rate.
local function bucket_capacity(rate)
  return math.max(1, math.floor(rate / 4))
end

-- The pre-queue member of `user`: its HMAC (lowercase hex, 64 characters) first, so the
-- set's lexical order (every score is 0) is the HMACs' byte order.
local function pre_member(hmac, user)
  return hmac .. ':' .. user
end

-- The user id of a pre-queue member.
local function pre_member_user(member)
  return string.sub(member, 66)
end

-- Opens the pre-queue now: its size is frozen, the offsets below it are reserved for it
-- (base moved below the clock by the size) and later entries' seqs start above the
-- clock; returns the size. The line is empty here: no entry joins the line while a
-- pre-queue waits for its opening (the admin script refuses to start a pre-queue on a
-- queue that has taken entries).
local function begin_opening(k, epoch, now_ms, now_us)
  local n = redis.call('ZCARD', k.pre)
  local last = tonumber(redis.call('HGET', k.entries, 'last')) or 0
  local open_us = math.max(last + 1, now_us)
  redis.call('HSET', k.life, 'openedAt', int(now_ms), 'size', int(n), 'moved', '0')
  if n == 0 then
    redis.call('HSET', k.life, 'doneAt', int(now_ms))
    redis.call('HSET', k.entries, 'last', int(open_us))
  else
    redis.call('HSET', k.entries, 'base', int(open_us - n), 'last', int(open_us), 'pre', int(n),
      'preSeq', epoch, 'opening', '1')
  end
  return n
end

-- Where the concert's pre-queue stands (`q:life`), read only: phase 'open' (none, or its
-- opening is over), 'pre' (before opensAt) or 'opening' (`moved` of `size` entries are in
-- the line; `due` when nothing has begun it yet: see open_when_due), with the draw's
-- epoch and whether the concert sold out.
local function lifecycle(k, settings, now_ms)
  local l = redis.call('HMGET', k.life, 'epoch', 'openedAt', 'doneAt', 'size', 'moved',
    'soldOutAt', 'openedEvent', 'commitment')
  local life = {epoch = l[1], opened_at = tonumber(l[2]), size = tonumber(l[4]) or 0,
    moved = tonumber(l[5]) or 0, sold_out = l[6] ~= false, announced = l[7] ~= false,
    commitment = l[8], phase = 'open', due = false}
  if not life.epoch or l[3] then
    return life
  end
  if not life.opened_at then
    if settings.opens_at and settings.opens_at > now_ms then
      life.phase = 'pre'
      return life
    end
    life.due = true
    life.size = redis.call('ZCARD', k.pre)
  end
  life.phase = 'opening'
  return life
end

-- Begins the opening `life` says is due (the first script past opensAt does it, whichever
-- it is), updating `life`; an empty pre-queue is open at once.
local function open_when_due(k, life, now_ms, now_us)
  if not life.due then
    return
  end
  life.due = false
  life.size = begin_opening(k, life.epoch, now_ms, now_us)
  life.opened_at = now_ms
  life.moved = 0
  if life.size == 0 then
    life.phase = 'open'
  end
end

-- The place of the line entry of `user` at `score` (1 = next): its rank, plus, while a
-- pre-queue opens, the pre-queue entries not moved yet (all of them go ahead of a join).
local function line_position(k, life, user, score)
  local position = redis.call('ZRANK', k.line, user) + 1
  if life.phase == 'opening' and line_offset(score) >= life.size then
    position = position + life.size - life.moved
  end
  return position
end

-- The queue of the concert a script is called for: its named keys `k`, the settings in
-- force `s` and its lifecycle `life` (read only); or nil and the error reply for the script
-- to return (before any write) when the concert does not exist.
local function concert_queue(now_ms)
  local k = queue_keys()
  if redis.call('EXISTS', k.meta) == 0 then
    return nil, redis.error_reply('CONCERT_NOT_FOUND concert does not exist')
  end
  local s = queue_settings(k.settings)
  return {k = k, s = s, life = lifecycle(k, s, now_ms)}
end

-- Whether the unmoved pre-queue member `member` still waits in the pre-queue during the
-- opening (not moved yet, not evicted); returns its rank there, or nil.
local function unmoved_rank(k, life, member, user)
  local rank = redis.call('ZRANK', k.pre, member)
  if not rank or rank < life.moved or redis.call('SISMEMBER', k.gone, user) == 1 then
    return nil
  end
  return rank
end

-- The position of an unmoved pre-queue entry of rank `rank` during the opening: the moved
-- pre-queue entries still in the line, then the unmoved ones ahead of it.
local function opening_position(k, life, rank)
  local moved_waiting = redis.call('ZCOUNT', k.line, '-inf', '(' .. int(line_score(life.size, 0)))
  return moved_waiting + rank - life.moved + 1
end

-- Buyers whose ACTIVE time has not run out.
local function live_active_count(active_key, now_ms)
  return redis.call('ZCOUNT', active_key, '(' .. int(now_ms), '+inf')
end

-- Takes up to `want` admissions from the concert's token bucket (refilled at `rate` per
-- second, holding at most `capacity`); returns how many it granted. The bucket lives in
-- Redis, so every server instance draws on the same budget.
local function take_admissions(bucket_key, now_ms, rate, capacity, want)
  if rate <= 0 or want <= 0 then
    return 0
  end
  local b = redis.call('HMGET', bucket_key, 'tokens', 'ts')
  local tokens = tonumber(b[1]) or capacity
  local ts = tonumber(b[2]) or now_ms
  if now_ms > ts then
    tokens = math.min(capacity, tokens + (now_ms - ts) * rate / 1000)
    ts = now_ms
  end
  local granted = math.min(want, math.floor(tokens))
  if granted > 0 or b[1] == false then
    redis.call('HSET', bucket_key, 'tokens', tostring(tokens - granted), 'ts', int(ts))
  end
  return granted
end

-- Folds `admitted` into the observed admission rate, measured over windows of 2 s
-- during which buyers were waiting (an empty queue says nothing about the rate), and into
-- the last minute's count (fields m0..m59 of `stats`: "<second>:<admitted>" per second).
local function record_admissions(stats_key, now_ms, admitted, still_waiting)
  if admitted > 0 then
    local second = math.floor(now_ms / 1000)
    local field = 'm' .. (second % 60)
    local previous = redis.call('HGET', stats_key, field)
    local count = admitted
    if previous then
      local at, n = string.match(previous, '^(%d+):(%d+)$')
      if tonumber(at) == second then
        count = count + tonumber(n)
      end
    end
    redis.call('HSET', stats_key, field, int(second) .. ':' .. int(count))
  end
  local s = redis.call('HMGET', stats_key, 'win_start', 'win_count', 'rate')
  local start = tonumber(s[1]) or now_ms
  local count = (tonumber(s[2]) or 0) + admitted
  local elapsed = now_ms - start
  if still_waiting == 0 then
    if s[1] ~= false or admitted > 0 then
      redis.call('HSET', stats_key, 'win_start', int(now_ms), 'win_count', '0')
    end
  elseif elapsed >= 2000 then
    local observed = count * 1000 / elapsed
    local previous = tonumber(s[3])
    if previous then
      observed = (previous + observed) / 2
    end
    redis.call('HSET', stats_key, 'rate', tostring(observed), 'win_start', int(now_ms), 'win_count', '0')
  elseif admitted > 0 or s[1] == false then
    redis.call('HSET', stats_key, 'win_start', int(start), 'win_count', int(count))
  end
end

-- The admission rate a wait is estimated with: the observed one, never above the
-- configured one, and never below what expiring sessions alone free (max_active per
-- ACTIVE lifetime); nil when admission is off altogether.
local function effective_rate(stats_key, rate, max_active, ttl_ms)
  local effective = rate
  local observed = tonumber(redis.call('HGET', stats_key, 'rate'))
  if observed then
    effective = math.min(rate, observed)
  end
  if max_active > 0 then
    effective = math.max(effective, math.min(rate, max_active * 1000 / ttl_ms))
  end
  if effective <= 0 then
    effective = rate
  end
  if effective <= 0 then
    return nil
  end
  return effective
end

-- Seconds until a buyer at `position` is admitted at the effective rate (above); -1 when
-- admission is off altogether. src/queue/snapshot.rs computes the same from the rate.
local function estimate_wait_secs(stats_key, position, rate, max_active, ttl_ms)
  local effective = effective_rate(stats_key, rate, max_active, ttl_ms)
  if not effective then
    return -1
  end
  return math.ceil(position / effective)
end

-- Admissions the last 60 seconds saw (the m0..m59 fields of `stats`).
local function admitted_last_minute(stats_key, now_ms)
  local fields = {}
  for i = 0, 59 do
    fields[#fields + 1] = 'm' .. i
  end
  local second = math.floor(now_ms / 1000)
  local total = 0
  for _, v in ipairs(redis.call('HMGET', stats_key, unpack(fields))) do
    if v then
      local at, n = string.match(v, '^(%d+):(%d+)$')
      if second - tonumber(at) < 60 then
        total = total + tonumber(n)
      end
    end
  end
  return total
end

-- How many more buyers the concert's seats let in: (AVAILABLE seats x `per_seat`) minus
-- the ACTIVE ones, or nil when the concert has no seats seeded (no inventory to follow);
-- and whether every seat is SOLD.
local function inventory_room(tag, now_ms, per_seat, active_now)
  local total, available, _, sold = concert_inventory(tag, now_ms)
  if total == 0 then
    return nil, false
  end
  return math.max(0, math.floor(available * per_seat + 1e-9) - active_now), sold >= total
end

-- Events of a script with no outbox (a join that admits at once, a poll that finds its
-- waiter idle) wait in the concert's `q:events` list for the next activation tick, which
-- appends them with its own; at most EVENT_BUFFER of them are listed, the rest counted in
-- `stats` (`unlisted:<kind>`).
local EVENT_BUFFER = 1000
local function buffer_event(events_key, stats_key, kind, user)
  if redis.call('LLEN', events_key) < EVENT_BUFFER then
    redis.call('RPUSH', events_key, kind .. ':' .. user)
  else
    redis.call('HINCRBY', stats_key, 'unlisted:' .. kind, 1)
  end
end

-- Appends the `opened` event once per opening (marked `openedEvent` in `q:life`), by
-- whichever script with the outbox sees the opening first.
local function announce_opening(k, life, now_ms)
  if not life.opened_at or life.announced then
    return
  end
  life.announced = true
  redis.call('HSET', k.life, 'openedEvent', '1')
  queue_event(k.outbox, k.life, k.concert, 'opened', now_ms, {'openedAtMs', life.opened_at,
    'preQueueSize', life.size, 'commitment', life.commitment or false})
end
