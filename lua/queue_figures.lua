-- A concert's queue as the operator sees it (GET /admin/concerts/{id}/queue, `concert-queue
-- admin status`), read only: its state, the live figures, its seats, the concert's own
-- settings and its draw.
-- KEYS: the queue keys 1 to 12 (src/store/keys.rs QueueKeys::invoke)
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings)
-- Returns, as strings: {state (PRE_QUEUE, OPEN, PAUSED or SOLD_OUT), waiting (the
-- pre-queue's too), pre-queue entries not in the line yet, active, admitted in the last
-- minute, observed admission rate ('' before any), seats total, AVAILABLE, HELD, SOLD,
-- then the concert's own maxActive, admitPerSec, activeTtlSecs, idleTimeoutSecs, paused,
-- opensAt ('' where it has none), then the draw's commitment, the pre-queue's size, its
-- opening time (ms) and seed ('' before it opened; every draw field '' without a draw)}
local now_ms = redis_clock()
local q, refusal = concert_queue(now_ms)
if not q then
  return refusal
end
local k, s, life = q.k, q.s, q.life

local state = 'OPEN'
if life.sold_out then
  state = 'SOLD_OUT'
elseif life.phase == 'pre' then
  state = 'PRE_QUEUE'
elseif s.paused then
  state = 'PAUSED'
end
local pre = 0
if life.phase == 'pre' then
  pre = redis.call('ZCARD', k.pre)
elseif life.phase == 'opening' then
  pre = life.size - life.moved
end
local total, available, held, sold = concert_inventory(k.tag, now_ms)
local out = {state, int(redis.call('ZCARD', k.line) + pre), int(pre),
  int(live_active_count(k.active, now_ms)), int(admitted_last_minute(k.stats, now_ms)),
  redis.call('HGET', k.stats, 'rate') or '', int(total), int(available), int(held), int(sold)}
local own = redis.call('HMGET', k.settings, 'maxActive', 'admitPerSec', 'activeTtlSecs',
  'idleTimeoutSecs', 'paused', 'opensAt')
for i = 1, 6 do
  out[#out + 1] = own[i] or ''
end
local draw = redis.call('HMGET', k.life, 'commitment', 'seed')
local opened = life.opened_at ~= nil
out[#out + 1] = draw[1] or ''
out[#out + 1] = (opened or life.phase == 'pre') and int(life.phase == 'pre' and pre or life.size) or ''
out[#out + 1] = opened and int(life.opened_at) or ''
out[#out + 1] = opened and draw[2] or ''
return out
