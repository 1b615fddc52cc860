-- Ends a payment attempt that took no money (the wallet refused it, or the sweeper voided
-- its debit first), in the concert's slot: a PAYING reservation of this attempt is HELD
-- again, until its own expiry, as before the payment began. Another attempt, or a
-- reservation no longer PAYING, is left alone.
-- KEYS: 1 reservation, 2 the concert's paying set, 3 user holds
-- ARGV: 1 tag, 2 reservation id, 3 attempt
-- Returns 1 when the reservation is HELD again, 0 when there was nothing to undo
local res, paying, user_holds = KEYS[1], KEYS[2], KEYS[3]
local tag, id, attempt = ARGV[1], ARGV[2], ARGV[3]

local r = load_reservation(res)
if not r or r.status ~= 'PAYING' or redis.call('HGET', res, 'payAttempt') ~= attempt then
  return 0
end
redis.call('HSET', res, 'status', 'HELD')
redis.call('HDEL', res, 'payingSinceMs')
redis.call('ZREM', paying, id)
redis.call('ZADD', schedule_key(tag, r.schedule, 'holds'), int(r.expires), id)
redis.call('ZADD', user_holds, int(r.expires), id)
return 1
