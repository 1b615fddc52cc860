-- Shared by the booking scripts; prepended after lib/common.lua and lib/concert.lua at build
-- time (src/store/scripts.rs). Key names mirror src/store/keys.rs: everything built here lives
-- under the concert's hash tag `tag` (`<prefix>:{c:<id>}`), so it shares the slot of the
-- keys the script declares. Nothing here raises an error (owned_reservation returns one
-- for its caller to return).

local function reservation_key(tag, id)
  return tag .. ':res:' .. id
end

local function user_holds_key(tag, user)
  return tag .. ':u:' .. user .. ':holds'
end

-- Whether the token admitted with sequence `seq` is ACTIVE for this concert right now.
local function token_is_active(active, active_seq, user, seq, now_ms)
  local admitted = redis.call('HGET', active_seq, user)
  if not admitted or tonumber(admitted) ~= tonumber(seq) then
    return false
  end
  local expires = tonumber(redis.call('ZSCORE', active, user))
  return expires ~= nil and expires > now_ms
end

-- The reservation hash's fields are named here only (src/booking/record.rs is the Rust
-- side's copy). A new hold's record:
local function record_hold(key, id, user, concert, schedule, seat, price, held_ms, expires_ms)
  redis.call('HSET', key, 'id', id, 'user', user, 'concert', concert, 'schedule', schedule,
    'seat', seat, 'price', price, 'status', 'HELD', 'heldAtMs', int(held_ms),
    'expiresMs', int(expires_ms))
end

-- What a payment adds to the record.
local function record_payment(key, payment_id, ledger_id, balance_after, confirmed_ms)
  redis.call('HSET', key, 'status', 'CONFIRMED', 'paymentId', payment_id, 'ledgerId', ledger_id,
    'balanceAfter', int(balance_after), 'confirmedAtMs', int(confirmed_ms))
end

-- The payment fields of a CONFIRMED record: paymentId and balanceAfter.
local function recorded_payment(key)
  local paid = redis.call('HMGET', key, 'paymentId', 'balanceAfter')
  return paid[1], tonumber(paid[2])
end

-- A reservation's fields, or nil when there is none.
local function load_reservation(key)
  local v = redis.call('HMGET', key, 'user', 'schedule', 'seat', 'price', 'status', 'expiresMs')
  if not v[1] then
    return nil
  end
  return {user = v[1], schedule = v[2], seat = v[3], price = tonumber(v[4]),
    status = v[5], expires = tonumber(v[6])}
end

-- The reservation at `key` when it exists and belongs to `user`; otherwise nil and the error
-- reply for the caller to return (before any write).
local function owned_reservation(key, user)
  local r = load_reservation(key)
  if not r then
    return nil, redis.error_reply('RESERVATION_NOT_FOUND reservation does not exist')
  end
  if r.user ~= user then
    return nil, redis.error_reply('FORBIDDEN the reservation belongs to another user')
  end
  return r
end

-- Ends a HELD reservation as `status` (CANCELLED or EXPIRED): frees the seat, drops the hold
-- from the schedule's and the buyer's live sets, and lets the record go after `retention_ms`.
local function end_hold(tag, id, r, status, retention_ms)
  local held = schedule_key(tag, r.schedule, 'held')
  if redis.call('HGET', held, r.seat) == id then
    redis.call('HDEL', held, r.seat)
  end
  redis.call('ZREM', schedule_key(tag, r.schedule, 'holds'), id)
  redis.call('ZREM', user_holds_key(tag, r.user), id)
  local key = reservation_key(tag, id)
  redis.call('HSET', key, 'status', status)
  redis.call('PEXPIRE', key, retention_ms)
end

-- Payment. A payment takes the buyer's money (the wallet, in its bucket's slot) and sells
-- the seat (the concert's slot). On a single Redis lua/pay_reservation.lua does both at
-- once; on a cluster they are three steps (lua/begin_payment.lua, lua/debit_wallet.lua,
-- lua/confirm_payment.lua) with the reservation PAYING between them (docs/architecture.md,
-- "Payment in steps"). The functions below are shared by both ways.

-- The checks a payment makes before its first write, at `now_ms`. Returns the reservation
-- (CONFIRMED: the caller repeats its first answer; PAYING: a payment in steps is under way;
-- HELD: payable), or nil and the error reply.
local function payable_reservation(res, active, active_seq, user, seq, token_concert, concert,
    now_ms)
  local r, refusal = owned_reservation(res, user)
  if not r then
    return nil, refusal
  end
  if r.status == 'CONFIRMED' then
    return r
  end
  if token_concert ~= concert or not token_is_active(active, active_seq, user, seq, now_ms) then
    return nil, redis.error_reply('TOKEN_NOT_ACTIVE the token is not active for this concert')
  end
  if r.status == 'CANCELLED' then
    return nil, redis.error_reply('NOT_HELD the reservation was cancelled')
  end
  if r.status == 'PAYING' then
    return r
  end
  if r.status ~= 'HELD' or r.expires <= now_ms then
    return nil, redis.error_reply('HOLD_EXPIRED the hold has expired')
  end
  return r
end

-- The payment's id, from its reservation's (`R7-12` pays as `P7-12`).
local function payment_id_of(id)
  return 'P' .. string.sub(id, 2)
end

-- Takes `amount` from the wallet, which the caller checked covers it: the ledger entry's id
-- and the balance after.
local function take_from_wallet(wallet, user, amount)
  local balance = tonumber(redis.call('HGET', wallet, 'balance')) or 0
  local balance_after = balance - amount
  redis.call('HSET', wallet, 'balance', int(balance_after))
  local ledger_id = 'L' .. user .. '-' .. redis.call('HINCRBY', wallet, 'ledgerSeq', 1)
  return ledger_id, balance_after
end

-- Whether the wallet's balance covers `amount`.
local function wallet_covers(wallet, amount)
  return (tonumber(redis.call('HGET', wallet, 'balance')) or 0) >= amount
end

-- Sells the seat of reservation `id` (HELD or PAYING), paid by ledger entry `ledger_id`:
-- the seat becomes SOLD, the record CONFIRMED, the schedule's first sale and sell-out are
-- noted (the concert's last seat closes its queue), the sale goes to the concert's outbox,
-- and the token ends when the buyer has no other live hold in this concert. `paid_ms` is
-- when the payment was accepted (its checks passed and the seat was its buyer's): the
-- record's and the event's confirmation time. Returns the payment id and whether the token
-- ended.
local function sell_seat(tag, id, r, concert, ledger_id, balance_after, paid_ms, now_ms, k)
  local payment_id = payment_id_of(id)
  local held = schedule_key(tag, r.schedule, 'held')
  if redis.call('HGET', held, r.seat) == id then
    redis.call('HDEL', held, r.seat)
  end
  redis.call('ZREM', schedule_key(tag, r.schedule, 'holds'), id)
  redis.call('ZREM', k.user_holds, id)
  local sold = schedule_key(tag, r.schedule, 'sold')
  redis.call('HSET', sold, r.seat, id)

  -- The schedule's first sale and sell-out, dated by the payments (as `restore` dates them
  -- from MySQL): payments in steps may confirm in another order than they began.
  local info = schedule_key(tag, r.schedule, 'info')
  local first_sale = tonumber(redis.call('HGET', info, 'firstSaleMs'))
  if not first_sale or paid_ms < first_sale then
    redis.call('HSET', info, 'firstSaleMs', int(paid_ms))
  end
  if redis.call('HLEN', sold) == redis.call('HLEN', schedule_key(tag, r.schedule, 'seats')) then
    local last_sale = paid_ms
    for _, other in ipairs(redis.call('HVALS', sold)) do
      if other ~= id then
        local at = tonumber(redis.call('HGET', reservation_key(tag, other), 'confirmedAtMs'))
        if at and at > last_sale then
          last_sale = at
        end
      end
    end
    redis.call('HSET', info, 'soldOutMs', int(last_sale))
    -- The schedule sold out: when every other one has too, the concert's queue closes.
    local total, _, _, sold_all = concert_inventory(tag, now_ms)
    if sold_all >= total then
      close_sold_out(k.outbox, k.life, concert, now_ms)
    end
  end

  record_payment(reservation_key(tag, id), payment_id, ledger_id, balance_after, paid_ms)
  redis.call('XADD', k.outbox, '*', 'type', 'reservation.confirmed', 'id', id, 'data',
    json_object({
      'reservationId', id, 'paymentId', payment_id, 'userId', tonumber(r.user),
      'concertId', tonumber(concert), 'scheduleId', tonumber(r.schedule),
      'seatNo', tonumber(r.seat), 'amount', r.price, 'balanceAfter', balance_after,
      'ledgerId', ledger_id, 'confirmedAtMs', paid_ms}))

  if redis.call('ZCOUNT', k.user_holds, '(' .. int(now_ms), '+inf') == 0 then
    redis.call('ZREM', k.active, r.user)
    redis.call('HDEL', k.active_seq, r.user)
    return payment_id, 1
  end
  return payment_id, 0
end
