-- Queue status of one token; a WAITING poll also counts as a sign of life.
-- KEYS: the queue keys (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 line, 3 active,
--       4 active_seq, 5 entries, 6 bucket, 7 stats
-- ARGV: 1 user, 2 seq, 3 admit_per_sec, 4 max_active, 5 active_ttl_ms, 6 idle_timeout_ms (0 = never)
-- Returns {0 WAITING, position, wait_secs} | {1 ACTIVE, expires_ms} | {2 EXPIRED}
local line, active, active_seq, entries, stats = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7]
local user = ARGV[1]
local seq = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local max_active = tonumber(ARGV[4])
local ttl_ms = tonumber(ARGV[5])
local idle_ms = tonumber(ARGV[6])
local now_ms = redis_clock()

local score = tonumber(redis.call('ZSCORE', line, user))
if score and line_base(entries) + line_offset(score) == seq then
  local now_slot = presence_slot(now_ms)
  if is_idle(score, now_slot, idle_ms) then
    redis.call('ZREM', line, user)
    return {2}
  end
  mark_present(line, user, score, now_slot)
  local position = redis.call('ZRANK', line, user) + 1
  return {0, position, estimate_wait_secs(stats, position, rate, max_active, ttl_ms)}
end

local active_entry = redis.call('HGET', active_seq, user)
if active_entry and tonumber(active_entry) == seq then
  local expires = tonumber(redis.call('ZSCORE', active, user))
  if expires and expires > now_ms then
    return {1, expires}
  end
end
return {2}
