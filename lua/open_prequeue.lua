-- One step of a pre-queue's opening: moves its next `chunk` entries, in HMAC order, into the
-- line at the offsets their ranks reserved (lib/queue.lua begin_opening), each present as
-- of now; the last step ends the opening. A step touches at most `chunk` entries, O(log N +
-- chunk), so Redis serves everything else between steps however long the pre-queue; the
-- ticker runs steps back to back until none is left (src/queue/opening.rs). The pre-queue
-- itself stays as it was, in HMAC order: it is the order GET .../fairness/order lists,
-- kept `retention_ms` after the opening ends.
-- KEYS: the queue keys 1 to 13 (src/store/keys.rs QueueKeys::invoke_with_outbox)
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 chunk,
--       7 retention_ms
-- Returns {entries moved by this step, entries still to move}
local k = queue_keys()
local chunk, retention_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
local s = queue_settings(k.settings)
local now_ms, now_us = redis_clock()
local life = lifecycle(k, s, now_ms)
open_when_due(k, life, now_ms, now_us)
announce_opening(k, life, now_ms)
if life.phase ~= 'opening' then
  return {0, 0}
end

local from = life.moved
local members = redis.call('ZRANGE', k.pre, from, from + chunk - 1)
local slot = presence_slot(now_ms)
local skip_gone = redis.call('SCARD', k.gone) > 0
local entries = {}
-- Scores go as Lua numbers, without int()'s string.format per entry: a pre-queue's rank
-- times 4096 stays far below 2^53, and Redis passes such a number on exactly.
local score = line_score(from, slot)
for _, member in ipairs(members) do
  local user = pre_member_user(member)
  if not (skip_gone and redis.call('SISMEMBER', k.gone, user) == 1) then
    entries[#entries + 1] = score
    entries[#entries + 1] = user
  end
  score = score + LINE_SLOTS
end
if #entries > 0 then
  redis.call('ZADD', k.line, 'NX', unpack(entries))
end
local moved = from + #members
redis.call('HSET', k.life, 'moved', int(moved))
if moved >= life.size or #members == 0 then
  redis.call('HSET', k.life, 'doneAt', int(now_ms))
  redis.call('HDEL', k.entries, 'opening')
  redis.call('DEL', k.gone)
  redis.call('PEXPIRE', k.pre, retention_ms)
  return {#members, 0}
end
return {#members, life.size - moved}
