-- Step 3 of a payment in steps, in the concert's slot: sells the seat of a PAYING
-- reservation whose attempt's debit is done (lua/debit_wallet.lua), as a one-step payment
-- would: SOLD, CONFIRMED, the concert's outbox, the token's end, the queue closed by the
-- last seat. It checks no token and no expiry: the money was taken while both held, and a
-- PAYING seat is locked. The sale is dated when the payment began (step 1: when its checks
-- passed and its seat was locked). Confirming again answers the first confirmation; the
-- record then reads as a one-step payment's (no attempt fields).
-- KEYS: 1 reservation, 2 q:active, 3 q:active_seq, 4 the concert's outbox, 5 user holds,
--       6 q:life, 7 the concert's paying set
-- ARGV: 1 tag, 2 reservation id, 3 concert, 4 attempt, 5 ledger id, 6 balance after
-- Returns {created (0 replay, 1 new), paymentId, amount, balanceAfter, tokenEnded (0/1)}
local res, paying = KEYS[1], KEYS[7]
local k = {active = KEYS[2], active_seq = KEYS[3], outbox = KEYS[4], user_holds = KEYS[5],
  life = KEYS[6]}
local tag, id, concert, attempt, ledger_id, balance_after =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])

local r = load_reservation(res)
if not r then
  return redis.error_reply('RESERVATION_NOT_FOUND reservation does not exist')
end
if r.status == 'CONFIRMED' then
  local payment_id, recorded_balance = recorded_payment(res)
  return {0, payment_id, r.price, recorded_balance, 0}
end
if r.status ~= 'PAYING' or redis.call('HGET', res, 'payAttempt') ~= attempt then
  return redis.error_reply('PAYMENT_ABANDONED the payment attempt is not the one under way')
end

local now_ms = redis_clock()
local paid_ms = tonumber(redis.call('HGET', res, 'payingSinceMs')) or now_ms
redis.call('ZREM', paying, id)
redis.call('HDEL', res, 'payingSinceMs', 'payAttempt')
local payment_id, token_ended = sell_seat(tag, id, r, concert, ledger_id, balance_after,
  paid_ms, now_ms, k)
return {1, payment_id, r.price, balance_after, token_ended}
