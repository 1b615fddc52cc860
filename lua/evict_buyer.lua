-- Evict one buyer from a concert's queue (DELETE /admin/concerts/{id}/queue/users/{userId},
-- `concert-queue admin evict`): out of the line, the ACTIVE set or the pre-queue (while the
-- pre-queue opens, an entry not moved yet is marked gone and never moved), so every token
-- of theirs answers EXPIRED; appends the `evicted` event. Their holds lapse as usual.
-- KEYS: the queue keys 1 to 13 (src/store/keys.rs QueueKeys::invoke_with_outbox)
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 user, 7 the draw's
--       epoch the caller knows ('' for none), 8 the user's HMAC under its seed
-- Returns {where}: 'WAITING', 'ACTIVE', 'PRE_QUEUE', 'NONE' (not in the queue), or
-- 'DRAW' (call again with the current draw's epoch and the HMAC; nothing was written)
local user, epoch, hmac = ARGV[6], ARGV[7], ARGV[8]
local now_ms = redis_clock()
local q, refusal = concert_queue(now_ms)
if not q then
  return refusal
end
local k, life = q.k, q.life

local where = 'NONE'
local rank = nil
if redis.call('ZSCORE', k.line, user) then
  where = 'WAITING'
elseif (tonumber(redis.call('ZSCORE', k.active, user)) or 0) > now_ms then
  where = 'ACTIVE'
elseif life.phase == 'pre' or life.phase == 'opening' then
  if epoch ~= life.epoch or #hmac ~= 64 then
    return {'DRAW'}
  end
  local member = pre_member(hmac, user)
  if life.phase == 'pre' then
    rank = redis.call('ZRANK', k.pre, member)
  else
    rank = unmoved_rank(k, life, member, user)
  end
  if rank then
    where = 'PRE_QUEUE'
  end
end

if where == 'NONE' then
  return {where}
elseif where == 'WAITING' then
  redis.call('ZREM', k.line, user)
  -- Listed for the servers' snapshots, which answer far-back polls in process and hear of
  -- a buyer's leaving from signs of life sent only once per quarter idle timeout.
  redis.call('ZREMRANGEBYSCORE', k.evicted, '-inf', now_ms - EVICTED_LISTED_MS)
  redis.call('ZADD', k.evicted, now_ms, user)
  redis.call('PEXPIRE', k.evicted, EVICTED_LISTED_MS)
elseif where == 'ACTIVE' then
  redis.call('ZREM', k.active, user)
  redis.call('HDEL', k.active_seq, user)
elseif life.phase == 'pre' then
  redis.call('ZREM', k.pre, pre_member(hmac, user))
else
  redis.call('SADD', k.gone, user)
end
queue_event(k.outbox, k.life, k.concert, 'evicted', now_ms,
  {'count', 1, 'users', json_ids({user}), 'from', where})
return {where}
