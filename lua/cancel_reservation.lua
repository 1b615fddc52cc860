-- Cancel a reservation at its owner's request: a live hold frees its seat at once (a lapsed
-- one ends as EXPIRED); a confirmed reservation cannot be cancelled; an ended one stays so.
-- KEYS: 1 reservation
-- ARGV: 1 user, 2 tag, 3 reservation id, 4 retention_ms
-- Returns 1 when a hold was released, 0 when the reservation had already ended.
local key = KEYS[1]
local user, tag, id, retention_ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local r, refusal = owned_reservation(key, user)
if not r then
  return refusal
end
if r.status == 'CONFIRMED' then
  return redis.error_reply('ALREADY_CONFIRMED the reservation is already paid')
end
if r.status == 'PAYING' then
  return redis.error_reply('PAYMENT_IN_PROGRESS a payment of this reservation is under way')
end
if r.status ~= 'HELD' then
  return 0
end
local now_ms = redis_clock()
end_hold(tag, id, r, r.expires > now_ms and 'CANCELLED' or 'EXPIRED', retention_ms)
return 1
