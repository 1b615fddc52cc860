-- Hold one seat for an ACTIVE buyer: checks the token, the seat, that nobody else holds or
-- bought it (a lapsed hold counts as free) and the buyer's limit per schedule, then holds it.
-- A seat this buyer already holds (live) answers that hold again, writing nothing, so a
-- retry after a lost answer is safe.
-- KEYS: 1 q:active, 2 q:active_seq, 3 seats, 4 held, 5 holds, 6 sold, 7 user holds, 8 res:seq
-- ARGV: 1 user, 2 token seq, 3 tag, 4 concert, 5 schedule, 6 seat, 7 hold_ttl_ms,
--       8 holds_per_user, 9 retention_ms
-- Returns {reservationId, price, expiresMs, created (1 new hold, 0 the buyer's live hold)}
local active, active_seq, seats, held, holds, sold, user_holds, res_seq =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local user, seq, tag, concert, schedule, seat =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ttl_ms, limit, retention_ms = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local now_ms = redis_clock()

if not token_is_active(active, active_seq, user, seq, now_ms) then
  return redis.error_reply('TOKEN_NOT_ACTIVE the token is not active for this concert')
end
if redis.call('EXISTS', seats) == 0 then
  return redis.error_reply('SCHEDULE_NOT_FOUND schedule does not exist')
end
local price = redis.call('HGET', seats, seat)
if not price then
  return redis.error_reply('SEAT_NOT_FOUND seat does not exist')
end
if redis.call('HEXISTS', sold, seat) == 1 then
  return redis.error_reply('SEAT_UNAVAILABLE seat is sold')
end
local previous = redis.call('HGET', held, seat)
if previous then
  local until_ms = tonumber(redis.call('ZSCORE', holds, previous))
  if until_ms and until_ms > now_ms then
    local mine = redis.call('HMGET', reservation_key(tag, previous), 'user', 'price')
    if mine[1] == user then
      return {previous, tonumber(mine[2]), until_ms, 0}
    end
    return redis.error_reply('SEAT_UNAVAILABLE seat is held')
  end
  -- A payment under way locks its seat even past the lock's time (the sweeper settles it).
  if redis.call('HGET', reservation_key(tag, previous), 'status') == 'PAYING' then
    return redis.error_reply('SEAT_UNAVAILABLE seat is held')
  end
end
-- Live holds on this schedule are at most the live holds in the concert: count them one by
-- one only when the concert-wide count reaches the limit.
local on_schedule = redis.call('ZCOUNT', user_holds, '(' .. int(now_ms), '+inf')
if on_schedule >= limit then
  on_schedule = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', user_holds, '(' .. int(now_ms), '+inf')) do
    if redis.call('HGET', reservation_key(tag, id), 'schedule') == schedule then
      on_schedule = on_schedule + 1
    end
  end
end
if on_schedule >= limit then
  return redis.error_reply('HOLD_LIMIT too many live holds for this schedule')
end

if previous then
  local lapsed = load_reservation(reservation_key(tag, previous))
  if lapsed and lapsed.status == 'HELD' then
    end_hold(tag, previous, lapsed, 'EXPIRED', retention_ms)
  end
end
redis.call('ZREMRANGEBYSCORE', user_holds, '-inf', int(now_ms))
local id = 'R' .. concert .. '-' .. redis.call('INCR', res_seq)
local expires = now_ms + ttl_ms
record_hold(reservation_key(tag, id), id, user, concert, schedule, seat, price, now_ms, expires)
redis.call('HSET', held, seat, id)
redis.call('ZADD', holds, int(expires), id)
redis.call('ZADD', user_holds, int(expires), id)
return {id, tonumber(price), expires, 1}
