-- The sweeper: ends lapsed holds of one concert as EXPIRED and frees their seats. Only an
-- optimisation: every other script already treats a lapsed hold as gone (a PAYING one
-- excepted: its seat stays locked until its payment is settled).
-- KEYS: 1 the concert's schedule set
-- ARGV: 1 tag, 2 batch limit per schedule, 3 retention_ms
-- Returns the number of holds released
local tag, batch, retention_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now_ms = redis_clock()
local released = 0
for _, schedule in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local holds = schedule_key(tag, schedule, 'holds')
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', holds, '-inf', int(now_ms), 'LIMIT', 0, batch)) do
    local r = load_reservation(reservation_key(tag, id))
    if r and r.status == 'HELD' then
      end_hold(tag, id, r, 'EXPIRED', retention_ms)
      released = released + 1
    elseif not r or r.status ~= 'PAYING' then
      -- A PAYING hold stays listed: the payment sweeper settles it, and an abandoned
      -- payment's hold lapses from here again.
      redis.call('ZREM', holds, id)
    end
  end
end
return released
