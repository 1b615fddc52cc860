-- Issue a queue token: enter the concert's waiting line, or get back the live entry.
-- KEYS: the queue keys (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 line, 3 active,
--       4 active_seq, 5 entries, 6 bucket, 7 stats
-- ARGV: 1 user, 2 max_active, 3 admit_per_sec, 4 active_ttl_ms, 5 bucket_capacity,
--       6 idle_timeout_ms (0 = never)
-- Returns {status (0 WAITING, 1 ACTIVE), created (0/1), seq, position, wait_secs, expires_ms}
local meta, line, active, active_seq, entries, bucket, stats =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local user = ARGV[1]
local max_active = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local ttl_ms = tonumber(ARGV[4])
local capacity = tonumber(ARGV[5])
local idle_ms = tonumber(ARGV[6])

if redis.call('EXISTS', meta) == 0 then
  return redis.error_reply('CONCERT_NOT_FOUND concert does not exist')
end
local now_ms, now_us = redis_clock()
local now_slot = presence_slot(now_ms)

-- Re-entry: the same token and the same place; it also counts as a sign of life. A waiter
-- silent past the idle timeout is not re-entering: it joins again below, at the back.
local score = live_line_score(line, user, now_slot, idle_ms)
if score then
  local seq = line_base(entries) + line_offset(score)
  mark_present(line, user, score, now_slot)
  local position = redis.call('ZRANK', line, user) + 1
  return {0, 0, seq, position, estimate_wait_secs(stats, position, rate, max_active, ttl_ms), 0}
end
local active_entry = redis.call('HGET', active_seq, user)
if active_entry then
  local expires = tonumber(redis.call('ZSCORE', active, user))
  if expires and expires > now_ms then
    return {1, 0, tonumber(active_entry), 0, 0, expires}
  end
end

-- First entry: the next seq, and its offset in the line.
local seq, offset = next_entry(entries, line, now_us)
if not seq then
  return redis.error_reply('QUEUE_FULL the line has been non-empty for 25 days on end')
end
redis.call('ZREM', line, user) -- an idle waiter's old place, if it had one

if redis.call('ZCARD', line) == 0
  and live_active_count(active, now_ms) < max_active
  and take_admissions(bucket, now_ms, rate, capacity, 1) == 1 then
  local expires = now_ms + ttl_ms
  redis.call('ZADD', active, int(expires), user)
  redis.call('HSET', active_seq, user, int(seq))
  record_admissions(stats, now_ms, 1, 0)
  return {1, 1, seq, 0, 0, expires}
end

redis.call('ZADD', line, int(line_score(offset, now_slot)), user)
local position = redis.call('ZCARD', line)
return {0, 1, seq, position, estimate_wait_secs(stats, position, rate, max_active, ttl_ms), 0}
