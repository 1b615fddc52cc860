-- Queue status of one token; a WAITING poll also counts as presence.
-- KEYS: the queue keys (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 wait, 3 seen,
--       4 active, 5 active_seq, 6 seq, 7 bucket, 8 stats
-- ARGV: 1 user, 2 seq, 3 admit_per_sec, 4 max_active, 5 active_ttl_ms, 6 idle_timeout_ms (0 = never)
-- Returns {0 WAITING, position, wait_secs} | {1 ACTIVE, expires_ms} | {2 EXPIRED}
local wait, seen, active, active_seq, stats = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8]
local user = ARGV[1]
local seq = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local max_active = tonumber(ARGV[4])
local ttl_ms = tonumber(ARGV[5])
local idle_ms = tonumber(ARGV[6])
local now_ms = redis_clock()

local waiting_seq = redis.call('ZSCORE', wait, user)
if waiting_seq and tonumber(waiting_seq) == seq then
  local last_seen = tonumber(redis.call('ZSCORE', seen, user))
  if idle_ms > 0 and last_seen and now_ms - last_seen > idle_ms then
    redis.call('ZREM', wait, user)
    redis.call('ZREM', seen, user)
    return {2}
  end
  redis.call('ZADD', seen, int(now_ms), user)
  local position = redis.call('ZRANK', wait, user) + 1
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
