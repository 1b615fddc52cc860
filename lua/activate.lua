-- Activation tick for one concert: end lapsed ACTIVE sessions, drop idle waiters, then
-- admit the head of the queue in FIFO order within the rate budget and the active maximum.
-- Any number of servers may run it at once: the budget and the counts live here.
-- KEYS: the queue keys (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 wait, 3 seen,
--       4 active, 5 active_seq, 6 seq, 7 bucket, 8 stats
-- ARGV: 1 max_active, 2 admit_per_sec, 3 active_ttl_ms, 4 idle_timeout_ms (0 = never),
--       5 bucket_capacity, 6 batch_limit
-- Returns {admitted, expired_active, dropped_idle, waiting, active}
local wait, seen, active, active_seq, bucket, stats =
  KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7], KEYS[8]
local max_active = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
local idle_ms = tonumber(ARGV[4])
local capacity = tonumber(ARGV[5])
local batch = tonumber(ARGV[6])
local now_ms = redis_clock()

local lapsed = redis.call('ZRANGEBYSCORE', active, '-inf', int(now_ms), 'LIMIT', 0, batch)
if #lapsed > 0 then
  redis.call('ZREM', active, unpack(lapsed))
  redis.call('HDEL', active_seq, unpack(lapsed))
end

local idle = {}
if idle_ms > 0 then
  idle = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. int(now_ms - idle_ms), 'LIMIT', 0, batch)
  if #idle > 0 then
    redis.call('ZREM', wait, unpack(idle))
    redis.call('ZREM', seen, unpack(idle))
  end
end

local waiting = redis.call('ZCARD', wait)
local active_now = live_active_count(active, now_ms)
local want = math.min(max_active - active_now, waiting, batch)
local admitted = take_admissions(bucket, now_ms, rate, capacity, want)
if admitted > 0 then
  local head = redis.call('ZPOPMIN', wait, admitted)
  local expires = int(now_ms + ttl_ms)
  for i = 1, #head, 2 do
    local user, seq = head[i], head[i + 1]
    redis.call('ZADD', active, expires, user)
    redis.call('HSET', active_seq, user, int(tonumber(seq)))
    redis.call('ZREM', seen, user)
  end
end
record_admissions(stats, now_ms, admitted, waiting - admitted)
return {admitted, #lapsed, #idle, waiting - admitted, active_now + admitted}
