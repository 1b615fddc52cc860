-- Change a concert's queue settings (PATCH /admin/concerts/{id}/queue, pause, resume,
-- open, and `concert-queue admin set|pause|resume|open`): each named setting becomes the
-- concert's own, or goes back to the environment's default. A future `opensAt` on a queue
-- that never took an entry starts its pre-queue: the draw (the caller's seed and its
-- SHA-256 commitment, with an epoch that is the pre-queue tokens' seq) is kept unless one
-- exists. `opensAt` in the past, or null, opens a waiting pre-queue at once (its opening
-- begins in this call; the ticker moves its entries). Pausing and resuming append their
-- events. Every setting is checked before anything is written.
-- KEYS: the queue keys 1 to 13 (src/store/keys.rs QueueKeys::invoke_with_outbox)
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 seed (64 hex), 7 its
--       commitment (64 hex), then pairs of (setting, value): maxActive, admitPerSec,
--       activeTtlSecs, idleTimeoutSecs (whole numbers, checked by the caller), paused
--       ('1' or '0'), opensAt (ms); the value '' clears the concert's own setting
--       (opensAt null: open now)
-- Returns 1
local seed, commitment = ARGV[6], ARGV[7]
local now_ms, now_us = redis_clock()
local q, refusal = concert_queue(now_ms)
if not q then
  return refusal
end
local k, s, life = q.k, q.s, q.life

local set, clear = {}, {}
local draw = false
local paused = nil
for i = 8, #ARGV, 2 do
  local name, value = ARGV[i], ARGV[i + 1]
  if name == 'opensAt' and value ~= '' then
    local opened = life.opened_at ~= nil
      or (not life.epoch and redis.call('HEXISTS', k.entries, 'last') == 1)
    if opened then
      return redis.error_reply('INVALID_SETTING opensAt: the queue already opened')
    end
    if tonumber(value) > now_ms then
      draw = not life.epoch
    elseif not life.epoch then
      -- No pre-queue waits for it: the queue is simply open.
      value = ''
    end
  end
  if name == 'paused' then
    paused = value == '1'
  end
  if value == '' then
    clear[#clear + 1] = name
  else
    set[#set + 1] = name
    set[#set + 1] = value
  end
end

if #set > 0 then
  redis.call('HSET', k.settings, unpack(set))
end
if #clear > 0 then
  redis.call('HDEL', k.settings, unpack(clear))
end
if draw then
  local last = tonumber(redis.call('HGET', k.entries, 'last')) or 0
  local epoch = math.max(last + 1, now_us)
  redis.call('HSET', k.entries, 'last', int(epoch))
  redis.call('HSET', k.life, 'epoch', int(epoch), 'seed', seed, 'commitment', commitment,
    'drawnAt', int(now_ms))
end
if paused ~= nil and paused ~= s.paused then
  queue_event(k.outbox, k.life, k.concert, paused and 'paused' or 'resumed', now_ms, {})
end
-- A pre-queue this change makes due (opensAt null or past) begins its opening now.
local after = lifecycle(k, queue_settings(k.settings), now_ms)
open_when_due(k, after, now_ms, now_us)
announce_opening(k, after, now_ms)
return 1
