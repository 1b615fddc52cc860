-- A server's status snapshot of one concert (src/queue/snapshot.rs), taken every activation
-- tick, together with the signs of life of the buyers whose polls that server answered
-- from its last snapshot (batched: one call per concert per tick). A sign of life is
-- recorded only for a waiter still in the line with that seq and not idle; the others are
-- returned as gone, so the server asks Redis on their next poll, as are the buyers
-- evicted from the line in the last minute (`q:evicted`). Read only apart from the
-- presence marks.
-- KEYS: the queue keys 1 to 12 (src/store/keys.rs QueueKeys::invoke)
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 exact (the first
--       `exact` positions get no checkpoint: polls there ask Redis), 7 step in per mille of
--       the rank between checkpoints, 8 most checkpoints, then user, seq pairs (signs of life)
-- Returns {usable (0: a pre-queue, its opening or a sold-out concert: ask Redis), base,
--       idle_ms, effective admission rate ('' when admission is off), {gone users},
--       {rank, offset, rank, offset, ...} ascending, the last one the line's tail}
local k = queue_keys()
local exact, step, most = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local s = queue_settings(k.settings)
local now_ms = redis_clock()
local now_slot = presence_slot(now_ms)
local life = lifecycle(k, s, now_ms)
local state = line_state(k.entries)

local gone = {}
for i = 9, #ARGV, 2 do
  local user, seq = ARGV[i], tonumber(ARGV[i + 1])
  local score = live_line_score(k.line, user, now_slot, s.idle_ms)
  if score and state.base and entry_seq(state, score) == seq then
    mark_present(k.line, user, score, now_slot)
  else
    gone[#gone + 1] = user
  end
end

-- Buyers evicted from the line lately: gone too, whatever this server last sent.
for _, user in ipairs(redis.call('ZRANGEBYSCORE', k.evicted, now_ms - EVICTED_LISTED_MS, '+inf')) do
  gone[#gone + 1] = user
end

if life.phase ~= 'open' or life.sold_out or state.pre > 0 or not state.base then
  return {0, 0, 0, '', gone, {}}
end
local checkpoints = {}
local length = redis.call('ZCARD', k.line)
local rank = exact
while rank < length and #checkpoints < most * 2 do
  local at = redis.call('ZRANGE', k.line, rank, rank, 'WITHSCORES')
  checkpoints[#checkpoints + 1] = rank
  checkpoints[#checkpoints + 1] = line_offset(tonumber(at[2]))
  if rank == length - 1 then
    break
  end
  rank = math.min(length - 1, rank + math.max(1, math.floor(rank * step / 1000)))
end
local rate = effective_rate(k.stats, s.rate, s.max_active, s.ttl_ms)
return {1, int(state.base), s.idle_ms, rate and tostring(rate) or '', gone, checkpoints}
