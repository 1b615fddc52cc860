-- Shared by the queue scripts; prepended after lib/common.lua at build time
-- (src/store/scripts.rs). Nothing here raises an error, so a script may call these after
-- its checks.

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
