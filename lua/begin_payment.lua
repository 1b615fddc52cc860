-- Step 1 of a payment in steps (Redis Cluster; lua/pay_reservation.lua is the one-step way),
-- in the concert's slot: checks the reservation, the token and the hold like a one-step
-- payment, then marks the reservation PAYING under a new attempt number. A PAYING hold
-- does not lapse and cannot be cancelled: its seat is locked until the payment is confirmed
-- (lua/confirm_payment.lua) or abandoned (lua/abort_payment.lua); the concert's `paying`
-- set lists it for the sweeper, which settles what a crash leaves. A reservation already
-- PAYING answers its attempt (a retry joins the payment under way); a CONFIRMED one answers
-- its payment.
-- KEYS: 1 reservation, 2 q:active, 3 q:active_seq, 4 the concert's paying set,
--       5 user holds
-- ARGV: 1 user, 2 token seq, 3 token concert, 4 tag, 5 reservation id, 6 concert,
--       7 lock_ms (how long the seat stays locked at most, should nothing settle it)
-- Returns {'confirmed', paymentId, amount, balanceAfter} or {'paying', attempt, amount, 0}
local res, active, active_seq, paying, user_holds = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local user, seq, token_concert, tag, id, concert =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local lock_ms = tonumber(ARGV[7])

local now_ms = redis_clock()
local r, refusal = payable_reservation(res, active, active_seq, user, seq, token_concert,
  concert, now_ms)
if not r then
  return refusal
end
if r.status == 'CONFIRMED' then
  local payment_id, balance_after = recorded_payment(res)
  return {'confirmed', payment_id, r.price, balance_after}
end
if r.status == 'PAYING' then
  return {'paying', redis.call('HGET', res, 'payAttempt'), r.price, 0}
end

local attempt = redis.call('HINCRBY', res, 'payAttempt', 1)
redis.call('HSET', res, 'status', 'PAYING', 'payingSinceMs', int(now_ms))
redis.call('ZADD', paying, int(now_ms), id)
local locked_until = int(now_ms + lock_ms)
redis.call('ZADD', schedule_key(tag, r.schedule, 'holds'), locked_until, id)
redis.call('ZADD', user_holds, locked_until, id)
return {'paying', tostring(attempt), r.price, 0}
