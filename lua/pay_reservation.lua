-- Pay for a held seat from the buyer's wallet, all or nothing: the seat becomes SOLD, the
-- reservation CONFIRMED, the rankings and the outbox are updated, and the token ends when the
-- buyer has no other live hold in this concert; the payment that sells the concert's last
-- seat closes its queue (SOLD_OUT) in the same step. Paying a confirmed reservation again
-- returns the first answer and charges nothing. 402 leaves the hold in place.
-- KEYS: 1 reservation, 2 q:active, 3 q:active_seq, 4 wallet, 5 outbox, 6 ranking:sales,
--       7 ranking:soldout, 8 user holds, 9 q:life
-- ARGV: 1 user, 2 token seq, 3 token concert, 4 tag, 5 reservation id, 6 concert
-- Returns {created (0 replay, 1 new), paymentId, amount, balanceAfter, tokenEnded (0/1)}
local res, active, active_seq, wallet, outbox, rank_sales, rank_soldout, user_holds, life =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local user, seq, token_concert, tag, id, concert =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local r, refusal = owned_reservation(res, user)
if not r then
  return refusal
end
if r.status == 'CONFIRMED' then
  local payment_id, balance_after = recorded_payment(res)
  return {0, payment_id, r.price, balance_after, 0}
end
local now_ms = redis_clock()
if token_concert ~= concert or not token_is_active(active, active_seq, user, seq, now_ms) then
  return redis.error_reply('TOKEN_NOT_ACTIVE the token is not active for this concert')
end
if r.status == 'CANCELLED' then
  return redis.error_reply('NOT_HELD the reservation was cancelled')
end
if r.status ~= 'HELD' or r.expires <= now_ms then
  return redis.error_reply('HOLD_EXPIRED the hold has expired')
end
local balance = tonumber(redis.call('HGET', wallet, 'balance')) or 0
if balance < r.price then
  return redis.error_reply('INSUFFICIENT_BALANCE the balance does not cover the price')
end

local balance_after = balance - r.price
redis.call('HSET', wallet, 'balance', int(balance_after))
local ledger_id = 'L' .. user .. '-' .. redis.call('HINCRBY', wallet, 'ledgerSeq', 1)
local payment_id = 'P' .. string.sub(id, 2)

local held = schedule_key(tag, r.schedule, 'held')
if redis.call('HGET', held, r.seat) == id then
  redis.call('HDEL', held, r.seat)
end
redis.call('ZREM', schedule_key(tag, r.schedule, 'holds'), id)
redis.call('ZREM', user_holds, id)
local sold = schedule_key(tag, r.schedule, 'sold')
redis.call('HSET', sold, r.seat, id)

local info = schedule_key(tag, r.schedule, 'info')
local first_sale = tonumber(redis.call('HGET', info, 'firstSaleMs'))
if not first_sale then
  first_sale = now_ms
  redis.call('HSET', info, 'firstSaleMs', int(now_ms))
end
if redis.call('HLEN', sold) == redis.call('HLEN', schedule_key(tag, r.schedule, 'seats')) then
  redis.call('HSET', info, 'soldOutMs', int(now_ms))
  redis.call('ZADD', rank_soldout, int(now_ms - first_sale), r.schedule)
  -- The schedule sold out: when every other one has too, the concert's queue closes.
  local total, _, _, sold_all = concert_inventory(tag, now_ms)
  if sold_all >= total then
    close_sold_out(outbox, life, concert, now_ms)
  end
end
redis.call('ZINCRBY', rank_sales, 1, concert)

record_payment(res, payment_id, ledger_id, balance_after, now_ms)
redis.call('XADD', outbox, '*', 'type', 'reservation.confirmed', 'id', id, 'data', json_object({
  'reservationId', id, 'paymentId', payment_id, 'userId', tonumber(user),
  'concertId', tonumber(concert), 'scheduleId', tonumber(r.schedule), 'seatNo', tonumber(r.seat),
  'amount', r.price, 'balanceAfter', balance_after, 'ledgerId', ledger_id,
  'confirmedAtMs', now_ms}))

local token_ended = 0
if redis.call('ZCOUNT', user_holds, '(' .. int(now_ms), '+inf') == 0 then
  redis.call('ZREM', active, user)
  redis.call('HDEL', active_seq, user)
  token_ended = 1
end
return {1, payment_id, r.price, balance_after, token_ended}
