-- Pay for a held seat from the buyer's wallet in one step, on a single Redis (where the
-- wallet's and the concert's keys can meet in one script): the money leaves the wallet, the
-- seat becomes SOLD, the reservation CONFIRMED, the sale goes to the concert's outbox, and
-- the token ends when the buyer has no other live hold in this concert; the payment that
-- sells the concert's last seat closes its queue (SOLD_OUT). Paying a confirmed reservation
-- again returns the first answer and charges nothing. 402 leaves the hold in place. On a
-- Redis Cluster the same payment runs in three steps (lua/begin_payment.lua).
-- KEYS: 1 reservation, 2 q:active, 3 q:active_seq, 4 wallet, 5 the concert's outbox,
--       6 user holds, 7 q:life
-- ARGV: 1 user, 2 token seq, 3 token concert, 4 tag, 5 reservation id, 6 concert
-- Returns {created (0 replay, 1 new), paymentId, amount, balanceAfter, tokenEnded (0/1)}
local res, wallet = KEYS[1], KEYS[4]
local k = {active = KEYS[2], active_seq = KEYS[3], outbox = KEYS[5], user_holds = KEYS[6],
  life = KEYS[7]}
local user, seq, token_concert, tag, id, concert =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local now_ms = redis_clock()
local r, refusal = payable_reservation(res, k.active, k.active_seq, user, seq, token_concert,
  concert, now_ms)
if not r then
  return refusal
end
if r.status == 'CONFIRMED' then
  local payment_id, balance_after = recorded_payment(res)
  return {0, payment_id, r.price, balance_after, 0}
end
if r.status == 'PAYING' then
  return redis.error_reply('PAYMENT_IN_PROGRESS a payment of this reservation is under way')
end
if not wallet_covers(wallet, r.price) then
  return redis.error_reply('INSUFFICIENT_BALANCE the balance does not cover the price')
end

local ledger_id, balance_after = take_from_wallet(wallet, user, r.price)
local payment_id, token_ended = sell_seat(tag, id, r, concert, ledger_id, balance_after,
  now_ms, now_ms, k)
return {1, payment_id, r.price, balance_after, token_ended}
