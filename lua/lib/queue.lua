-- Shared by the queue scripts; prepended after lib/common.lua at build time
-- (src/store/scripts.rs). Nothing here raises an error, so a script may call these after
-- its checks.

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
local LINE_SLOTS = 4096
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

-- The line's base seq (a waiting entry's seq is base + offset).
local function line_base(entries_key)
  return tonumber(redis.call('HGET', entries_key, 'base'))
end

-- The next entry's seq: the Redis clock in microseconds, or one more than the last seq
-- when two arrive within the same microsecond; and its offset in the line, moving the
-- base up to it when the line is empty. Returns nil when the line has been non-empty for
-- 25 days on end and the offset no longer fits.
local function next_entry(entries_key, line_key, now_us)
  local e = redis.call('HMGET', entries_key, 'base', 'last')
  local base, last = tonumber(e[1]), tonumber(e[2]) or 0
  local seq = math.max(last + 1, now_us)
  if not base or redis.call('ZCARD', line_key) == 0 then
    base = seq
  end
  if seq - base >= MAX_OFFSET then
    return nil
  end
  redis.call('HSET', entries_key, 'base', int(base), 'last', int(seq))
  return seq, seq - base
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
-- during which buyers were waiting (an empty queue says nothing about the rate).
local function record_admissions(stats_key, now_ms, admitted, still_waiting)
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

-- Seconds until a buyer at `position` is admitted: the observed admission rate, never
-- above the configured one, and never below what expiring sessions alone free
-- (max_active per ACTIVE lifetime). -1 when admission is off altogether.
local function estimate_wait_secs(stats_key, position, rate, max_active, ttl_ms)
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
    return -1
  end
  return math.ceil(position / effective)
end
