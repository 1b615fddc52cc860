-- Activation tick for one concert: begin a pre-queue's opening when it is due, end lapsed
-- ACTIVE sessions, admit the head of the line in order within the rate budget, the active
-- maximum and the seats left (dropping idle waiters found there: an idle waiter is never
-- admitted), sweep a stretch of the line for idle waiters, and append the tick's queue
-- events to the outbox (one entry per kind). Any number of servers may run it at once: the
-- settings, the budget, the counts and the sweep cursor live here.
-- KEYS: the queue keys 1 to 13 (src/store/keys.rs QueueKeys::invoke_with_outbox): 1 meta,
--       2 line, 3 active, 4 active_seq, 5 entries, 6 bucket, 7 stats, 8 settings, 9 life,
--       10 pre, 11 gone, 12 events, 13 outbox
-- ARGV: 1 to 5 the default settings (lib/queue.lua queue_settings), 6 batch_limit, 7 tick_ms
-- Returns {admitted, expired_active, dropped_idle, waiting (the pre-queue's entries still to
-- move included), active, opening (1 while some are: see lua/open_prequeue.lua)}
local k = queue_keys()
local batch, tick_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
local s = queue_settings(k.settings)
local now_ms, now_us = redis_clock()
local now_slot = presence_slot(now_ms)
local life = lifecycle(k, s, now_ms)
open_when_due(k, life, now_ms, now_us)
announce_opening(k, life, now_ms)

-- 1. ACTIVE sessions whose time ran out.
local lapsed = redis.call('ZRANGEBYSCORE', k.active, '-inf', int(now_ms), 'LIMIT', 0, batch)
if #lapsed > 0 then
  redis.call('ZREM', k.active, unpack(lapsed))
  redis.call('HDEL', k.active_seq, unpack(lapsed))
end

-- 2. The head of the line: up to `want` present waiters in order, looking at no more than
-- `want + batch` entries; the idle ones met on the way leave the line. Nobody while paused,
-- sold out or before opensAt; never more ACTIVE than the seats left allow; while the
-- pre-queue opens, only its entries already moved (offsets below `moved`), so nobody
-- passes the ones still to move.
local waiting = redis.call('ZCARD', k.line)
local active_now = live_active_count(k.active, now_ms)
local users, idle = {}, {}
local admitted = 0
local want = 0
if not s.paused and not life.sold_out and life.phase ~= 'pre' then
  want = math.min(s.max_active - active_now, waiting, batch)
end
if want > 0 then
  local room, sold_out = inventory_room(k.tag, now_ms, s.per_seat, active_now)
  if sold_out then
    close_sold_out(k.outbox, k.life, k.concert, now_ms)
    want = 0
  elseif room then
    want = math.min(want, room)
  end
end
if want > 0 then
  local below = life.phase == 'opening' and life.moved or math.huge
  local scores = {}
  local scanned = 0
  local stop = false
  while not stop and #users < want and scanned < want + batch do
    local n = math.min(want - #users, want + batch - scanned)
    local chunk = redis.call('ZRANGE', k.line, scanned, scanned + n - 1, 'WITHSCORES')
    if #chunk == 0 then
      break
    end
    for i = 1, #chunk, 2 do
      local score = tonumber(chunk[i + 1])
      if line_offset(score) >= below then
        stop = true
        break
      end
      if is_idle(score, now_slot, s.idle_ms) then
        idle[#idle + 1] = chunk[i]
      else
        users[#users + 1] = chunk[i]
        scores[#scores + 1] = score
      end
    end
    scanned = scanned + #chunk / 2
  end
  if #idle > 0 then
    redis.call('ZREM', k.line, unpack(idle))
  end
  admitted = take_admissions(k.bucket, now_ms, s.rate, bucket_capacity(s.rate), #users)
  if admitted > 0 then
    local state = line_state(k.entries)
    local expires = int(now_ms + s.ttl_ms)
    local sessions, seqs = {}, {}
    for i = 1, admitted do
      sessions[#sessions + 1] = expires
      sessions[#sessions + 1] = users[i]
      seqs[#seqs + 1] = users[i]
      seqs[#seqs + 1] = int(entry_seq(state, scores[i]))
    end
    redis.call('ZREM', k.line, unpack(users, 1, admitted))
    redis.call('ZADD', k.active, unpack(sessions))
    redis.call('HSET', k.active_seq, unpack(seqs))
  end
end
local dropped = #idle

-- 3. The sweep: from the cursor in `stats`, a stretch of the line sized to go round it
-- once per quarter of the idle timeout or 5 s, whichever is shorter (at least 16 entries,
-- at most `batch`: a line longer than `batch` per tick takes longer); idle waiters leave
-- wherever they stand, so positions stop counting them.
local remaining = waiting - admitted - dropped
if s.idle_ms > 0 and remaining > 0 then
  local round_ms = math.min(s.idle_ms / 4, 5000)
  local n = math.min(batch, math.max(16, math.ceil(remaining * tick_ms / round_ms)))
  local cursor = tonumber(redis.call('HGET', k.stats, 'sweep')) or -1
  local chunk = redis.call('ZRANGEBYSCORE', k.line, int(line_score(cursor + 1, 0)), '+inf',
    'WITHSCORES', 'LIMIT', 0, n)
  local swept = {}
  for i = 1, #chunk, 2 do
    if is_idle(tonumber(chunk[i + 1]), now_slot, s.idle_ms) then
      swept[#swept + 1] = chunk[i]
      idle[#idle + 1] = chunk[i]
    end
  end
  if #swept > 0 then
    redis.call('ZREM', k.line, unpack(swept))
    dropped = dropped + #swept
    remaining = remaining - #swept
  end
  if #chunk < n * 2 then
    redis.call('HDEL', k.stats, 'sweep')
  else
    redis.call('HSET', k.stats, 'sweep', int(line_offset(tonumber(chunk[#chunk]))))
  end
end
record_admissions(k.stats, now_ms, admitted, remaining)

-- 4. The tick's events, with those joins and polls left in `q:events` since the last tick:
-- one outbox entry per kind, listing the users (at most a batch or two of them per tick;
-- buffered ones past EVENT_BUFFER are counted, not listed).
local listed = {admitted = {}, ['idle-dropped'] = {}}
for i = 1, admitted do
  listed.admitted[i] = users[i]
end
for i = 1, #idle do
  listed['idle-dropped'][i] = idle[i]
end
local buffered = redis.call('LRANGE', k.events, 0, -1)
if #buffered > 0 then
  redis.call('DEL', k.events)
  for _, entry in ipairs(buffered) do
    local kind, user = string.match(entry, '^(.-):(%d+)$')
    local list = listed[kind]
    if list then
      list[#list + 1] = user
    end
  end
end
local unlisted = redis.call('HMGET', k.stats, 'unlisted:admitted', 'unlisted:idle-dropped')
if unlisted[1] or unlisted[2] then
  redis.call('HDEL', k.stats, 'unlisted:admitted', 'unlisted:idle-dropped')
end
for i, kind in ipairs({'admitted', 'idle-dropped'}) do
  local count = #listed[kind] + (tonumber(unlisted[i]) or 0)
  if count > 0 then
    queue_event(k.outbox, k.life, k.concert, kind, now_ms,
      {'count', count, 'users', json_ids(listed[kind])})
  end
end
if #lapsed > 0 then
  queue_event(k.outbox, k.life, k.concert, 'expired', now_ms,
    {'count', #lapsed, 'users', json_ids(lapsed)})
end

local unmoved = life.phase == 'opening' and life.size - life.moved or 0
return {admitted, #lapsed, dropped, remaining + unmoved, active_now + admitted,
  unmoved > 0 and 1 or 0}
