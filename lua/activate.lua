-- Activation tick for one concert: end lapsed ACTIVE sessions, admit the head of the line
-- in FIFO order within the rate budget and the active maximum (dropping idle waiters found
-- there: an idle waiter is never admitted), then sweep a stretch of the line for idle
-- waiters. Any number of servers may run it at once: the budget, the counts and the sweep
-- cursor live here.
-- KEYS: the queue keys (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 line, 3 active,
--       4 active_seq, 5 entries, 6 bucket, 7 stats
-- ARGV: 1 max_active, 2 admit_per_sec, 3 active_ttl_ms, 4 idle_timeout_ms (0 = never),
--       5 bucket_capacity, 6 batch_limit, 7 tick_ms
-- Returns {admitted, expired_active, dropped_idle, waiting, active}
local line, active, active_seq, entries, bucket, stats =
  KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local max_active = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
local idle_ms = tonumber(ARGV[4])
local capacity = tonumber(ARGV[5])
local batch = tonumber(ARGV[6])
local tick_ms = tonumber(ARGV[7])
local now_ms = redis_clock()
local now_slot = presence_slot(now_ms)

-- 1. ACTIVE sessions whose time ran out.
local lapsed = redis.call('ZRANGEBYSCORE', active, '-inf', int(now_ms), 'LIMIT', 0, batch)
if #lapsed > 0 then
  redis.call('ZREM', active, unpack(lapsed))
  redis.call('HDEL', active_seq, unpack(lapsed))
end

-- 2. The head of the line: up to `want` present waiters in order, looking at no more than
-- `want + batch` entries; the idle ones met on the way leave the line.
local dropped = 0
local waiting = redis.call('ZCARD', line)
local active_now = live_active_count(active, now_ms)
local want = math.min(max_active - active_now, waiting, batch)
local admitted = 0
if want > 0 then
  local users, offsets, idle = {}, {}, {}
  local scanned = 0
  while #users < want and scanned < want + batch do
    local n = math.min(want - #users, want + batch - scanned)
    local chunk = redis.call('ZRANGE', line, scanned, scanned + n - 1, 'WITHSCORES')
    if #chunk == 0 then
      break
    end
    for i = 1, #chunk, 2 do
      local score = tonumber(chunk[i + 1])
      if is_idle(score, now_slot, idle_ms) then
        idle[#idle + 1] = chunk[i]
      else
        users[#users + 1] = chunk[i]
        offsets[#offsets + 1] = line_offset(score)
      end
    end
    scanned = scanned + #chunk / 2
  end
  if #idle > 0 then
    redis.call('ZREM', line, unpack(idle))
    dropped = #idle
  end
  admitted = take_admissions(bucket, now_ms, rate, capacity, #users)
  if admitted > 0 then
    local base = line_base(entries)
    local expires = int(now_ms + ttl_ms)
    local sessions, seqs = {}, {}
    for i = 1, admitted do
      sessions[#sessions + 1] = expires
      sessions[#sessions + 1] = users[i]
      seqs[#seqs + 1] = users[i]
      seqs[#seqs + 1] = int(base + offsets[i])
    end
    redis.call('ZREM', line, unpack(users, 1, admitted))
    redis.call('ZADD', active, unpack(sessions))
    redis.call('HSET', active_seq, unpack(seqs))
  end
end

-- 3. The sweep: from the cursor in `stats`, a stretch of the line sized to go round it
-- once per quarter of the idle timeout or 5 s, whichever is shorter (at least 16 entries,
-- at most `batch`: a line longer than `batch` per tick takes longer); idle waiters leave
-- wherever they stand, so positions stop counting them.
local remaining = waiting - admitted - dropped
if idle_ms > 0 and remaining > 0 then
  local round_ms = math.min(idle_ms / 4, 5000)
  local n = math.min(batch, math.max(16, math.ceil(remaining * tick_ms / round_ms)))
  local cursor = tonumber(redis.call('HGET', stats, 'sweep')) or -1
  local chunk = redis.call('ZRANGEBYSCORE', line, int(line_score(cursor + 1, 0)), '+inf',
    'WITHSCORES', 'LIMIT', 0, n)
  local idle = {}
  for i = 1, #chunk, 2 do
    if is_idle(tonumber(chunk[i + 1]), now_slot, idle_ms) then
      idle[#idle + 1] = chunk[i]
    end
  end
  if #idle > 0 then
    redis.call('ZREM', line, unpack(idle))
    dropped = dropped + #idle
    remaining = remaining - #idle
  end
  if #chunk < n * 2 then
    redis.call('HDEL', stats, 'sweep')
  else
    redis.call('HSET', stats, 'sweep', int(line_offset(tonumber(chunk[#chunk]))))
  end
end

record_admissions(stats, now_ms, admitted, remaining)
return {admitted, #lapsed, dropped, remaining, active_now + admitted}
