-- Issue a queue token: enter the concert's waiting line (before opensAt, its pre-queue), or
-- get back the live entry. A waiter silent past the concert's idle timeout is not
-- re-entering: its old place goes and it joins again at the back (a new token).
-- KEYS: the queue keys 1 to 12 (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 line,
--       3 active, 4 active_seq, 5 entries, 6 bucket, 7 stats, 8 settings, 9 life, 10 pre,
--       11 gone, 12 events
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 user, 7 the draw's
--       epoch the caller knows ('' for none), 8 the user's HMAC under that draw's seed
-- Returns {status, created (0/1), seq, position, wait_secs, at_ms}: status 0 WAITING (at_ms:
-- the concert's idle timeout in force, for the poll advice), 1 ACTIVE (at_ms: its expiry),
-- 2 PRE_QUEUE (at_ms: opensAt), 3 the caller must call again
-- with the current draw's epoch and the user's HMAC (nothing was written).
local user, epoch, hmac = ARGV[6], ARGV[7], ARGV[8]
local now_ms, now_us = redis_clock()
local q, refusal = concert_queue(now_ms)
if not q then
  return refusal
end
local k, s, life = q.k, q.s, q.life
local now_slot = presence_slot(now_ms)
if life.sold_out then
  return redis.error_reply('SOLD_OUT every seat of the concert is sold')
end
local knows_draw = epoch == life.epoch and #hmac == 64

-- Before opensAt: the pre-queue, where the HMAC alone decides the place.
if life.phase == 'pre' then
  if not knows_draw then
    return {3, 0, 0, 0, 0, 0}
  end
  local created = redis.call('ZADD', k.pre, 'NX', 0, pre_member(hmac, user))
  return {2, created, tonumber(life.epoch), 0, 0, s.opens_at}
end
open_when_due(k, life, now_ms, now_us)

-- Re-entry: the same token and the same place; it also counts as a sign of life. A waiter
-- silent past the idle timeout is not re-entering: it joins again below, at the back.
local score = live_line_score(k.line, user, now_slot, s.idle_ms)
if score then
  mark_present(k.line, user, score, now_slot)
  local position = line_position(k, life, user, score)
  return {0, 0, entry_seq(line_state(k.entries), score), position,
    estimate_wait_secs(k.stats, position, s.rate, s.max_active, s.ttl_ms), s.idle_ms}
end
local active_entry = redis.call('HGET', k.active_seq, user)
if active_entry then
  local expires = tonumber(redis.call('ZSCORE', k.active, user))
  if expires and expires > now_ms then
    return {1, 0, tonumber(active_entry), 0, 0, expires}
  end
end
-- While the pre-queue opens, its entries not moved yet keep their token and place.
if life.phase == 'opening' then
  if not knows_draw then
    return {3, 0, 0, 0, 0, 0}
  end
  local rank = unmoved_rank(k, life, pre_member(hmac, user), user)
  if rank then
    local position = opening_position(k, life, rank)
    return {0, 0, tonumber(life.epoch), position,
      estimate_wait_secs(k.stats, position, s.rate, s.max_active, s.ttl_ms), s.idle_ms}
  end
end

-- First entry: the next seq, and its offset in the line. (An opening begun above leaves
-- the offset far below the limit, so QUEUE_FULL never follows a write.)
local seq, offset = next_entry(k.entries, k.line, now_us)
if not seq then
  return redis.error_reply('QUEUE_FULL the line has been non-empty for 25 days on end')
end
-- An idle waiter's old place, if it had one, goes (and counts as an idle drop).
if redis.call('ZREM', k.line, user) == 1 then
  buffer_event(k.events, k.stats, 'idle-dropped', user)
end

if life.phase == 'open' and not s.paused
  and redis.call('ZCARD', k.line) == 0 then
  local active_now = live_active_count(k.active, now_ms)
  local room = inventory_room(k.tag, now_ms, s.per_seat, active_now)
  if active_now < s.max_active and (room == nil or room > 0)
    and take_admissions(k.bucket, now_ms, s.rate, bucket_capacity(s.rate), 1) == 1 then
    local expires = now_ms + s.ttl_ms
    redis.call('ZADD', k.active, int(expires), user)
    redis.call('HSET', k.active_seq, user, int(seq))
    record_admissions(k.stats, now_ms, 1, 0)
    buffer_event(k.events, k.stats, 'admitted', user)
    return {1, 1, seq, 0, 0, expires}
  end
end

redis.call('ZADD', k.line, int(line_score(offset, now_slot)), user)
local position = redis.call('ZCARD', k.line)
if life.phase == 'opening' then
  position = position + life.size - life.moved
end
return {0, 1, seq, position, estimate_wait_secs(k.stats, position, s.rate, s.max_active, s.ttl_ms), s.idle_ms}
