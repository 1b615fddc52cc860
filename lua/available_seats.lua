-- Seats still available (neither sold nor held by a live hold) per schedule (read only).
-- KEYS: per schedule, three keys: seats, holds, sold
-- Returns {total, available, ...} in the order of the schedules
local now_ms = redis_clock()
local out = {}
for i = 1, #KEYS, 3 do
  local total = redis.call('HLEN', KEYS[i])
  local live_holds = redis.call('ZCOUNT', KEYS[i + 1], '(' .. int(now_ms), '+inf')
  local sold = redis.call('HLEN', KEYS[i + 2])
  out[#out + 1] = total
  out[#out + 1] = math.max(0, total - sold - live_holds)
end
return out
