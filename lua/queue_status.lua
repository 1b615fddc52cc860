-- Queue status of one token; a WAITING poll also counts as a sign of life.
-- KEYS: the queue keys 1 to 12 (src/store/keys.rs QueueKeys::invoke): 1 meta, 2 line,
--       3 active, 4 active_seq, 5 entries, 6 bucket, 7 stats, 8 settings, 9 life, 10 pre,
--       11 gone, 12 events
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 user, 7 seq, 8 the
--       draw's epoch the caller knows ('' for none), 9 the user's HMAC under its seed
-- Returns {0 WAITING, position, wait_secs, idle_timeout_ms (the concert's, for the advice)} | {1 ACTIVE, expires_ms} | {2 EXPIRED}
--       | {3 call again with the current draw} | {4 PRE_QUEUE, opens_at_ms} | {5 SOLD_OUT}
local k = queue_keys()
local user, seq, epoch, hmac = ARGV[6], tonumber(ARGV[7]), ARGV[8], ARGV[9]
local s = queue_settings(k.settings)
local now_ms = redis_clock()
local life = lifecycle(k, s, now_ms)
local knows_draw = epoch == life.epoch and #hmac == 64
local drawn = life.epoch and seq == tonumber(life.epoch)

if life.phase == 'pre' and drawn then
  if not knows_draw then
    return {3}
  end
  if redis.call('ZSCORE', k.pre, pre_member(hmac, user)) then
    if life.sold_out then
      return {5}
    end
    return {4, s.opens_at}
  end
  return {2}
end

local score = tonumber(redis.call('ZSCORE', k.line, user))
if score and entry_seq(line_state(k.entries), score) == seq then
  if life.sold_out then
    return {5}
  end
  local now_slot = presence_slot(now_ms)
  if is_idle(score, now_slot, s.idle_ms) then
    redis.call('ZREM', k.line, user)
    buffer_event(k.events, k.stats, 'idle-dropped', user)
    return {2}
  end
  mark_present(k.line, user, score, now_slot)
  local position = line_position(k, life, user, score)
  return {0, position, estimate_wait_secs(k.stats, position, s.rate, s.max_active, s.ttl_ms),
    s.idle_ms}
end

local active_entry = redis.call('HGET', k.active_seq, user)
if active_entry and tonumber(active_entry) == seq then
  local expires = tonumber(redis.call('ZSCORE', k.active, user))
  if expires and expires > now_ms then
    return {1, expires}
  end
end

-- While the pre-queue opens, an entry not moved yet is WAITING behind the moved ones.
if life.phase == 'opening' and drawn then
  if not knows_draw then
    return {3}
  end
  local rank = unmoved_rank(k, life, pre_member(hmac, user), user)
  if rank then
    if life.sold_out then
      return {5}
    end
    local position = opening_position(k, life, rank)
    return {0, position, estimate_wait_secs(k.stats, position, s.rate, s.max_active, s.ttl_ms),
    s.idle_ms}
  end
end
return {2}
