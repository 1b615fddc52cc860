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
