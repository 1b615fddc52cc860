-- Shared by the queue and the booking scripts; prepended after lib/common.lua at build time
-- (src/store/scripts.rs). What both sides of a concert need: its seats counted over every
-- schedule, exact JSON, and the queue events they append to the outbox. Keys built here
-- live under the concert's hash tag `tag` (`<prefix>:{c:<id>}`), as src/store/keys.rs
-- builds them. Nothing here raises an error.

local function schedule_key(tag, schedule, part)
  return tag .. ':s:' .. schedule .. ':' .. part
end

-- The concert's seats now, over every schedule: total, AVAILABLE, HELD (live holds) and
-- SOLD. Read from each schedule's own keys (the same rule as the seat map: a lapsed hold
-- is AVAILABLE at once), so the counts cannot drift from the seats; four reads per
-- schedule. A concert with no seats seeded has total 0.
local function concert_inventory(tag, now_ms)
  local total, held, sold = 0, 0, 0
  for _, schedule in ipairs(redis.call('SMEMBERS', tag .. ':schedules')) do
    total = total + redis.call('HLEN', schedule_key(tag, schedule, 'seats'))
    sold = sold + redis.call('HLEN', schedule_key(tag, schedule, 'sold'))
    held = held + redis.call('ZCOUNT', schedule_key(tag, schedule, 'holds'), '(' .. int(now_ms), '+inf')
  end
  return total, math.max(0, total - sold - held), held, sold
end

-- A flat JSON object from {name, value, ...}: integers exact (cjson keeps only 14 digits),
-- strings escaped by cjson, false as null, {raw = text} as that JSON text.
local function json_object(fields)
  local parts = {}
  for i = 1, #fields, 2 do
    local value = fields[i + 1]
    local encoded
    if value == false then
      encoded = 'null'
    elseif type(value) == 'number' then
      encoded = int(value)
    elseif type(value) == 'table' then
      encoded = value.raw
    else
      encoded = cjson.encode(value)
    end
    parts[#parts + 1] = cjson.encode(fields[i]) .. ':' .. encoded
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- A JSON array of ids given as decimal strings (exact, whatever their size).
local function json_ids(ids)
  return {raw = '[' .. table.concat(ids, ',') .. ']'}
end

-- Appends one queue event to the outbox: type `queue.<kind>`, id `Q<concert>-<n>` (`n`
-- counted in the concert's `q:life`, so consumers deduplicate by it), data the JSON of
-- `fields` after eventId, type, concertId and atMs (docs/architecture.md, "Queue events").
-- The outbox is the concert's own stream (KEYS 13, in the concert's slot); a script invoked
-- without it appends nothing and counts nothing.
local function queue_event(outbox, life, concert, kind, now_ms, fields)
  if not outbox then
    return
  end
  local id = 'Q' .. concert .. '-' .. redis.call('HINCRBY', life, 'eventSeq', 1)
  local all = {'eventId', id, 'type', kind, 'concertId', tonumber(concert), 'atMs', now_ms}
  for i = 1, #fields do
    all[#all + 1] = fields[i]
  end
  redis.call('XADD', outbox, '*', 'type', 'queue.' .. kind, 'id', id, 'data', json_object(all))
end

-- Closes the concert's queue because every seat is SOLD (`soldOutAt` in its `q:life`), once,
-- with its `sold-out` event: waiting buyers answer SOLD_OUT, joins 409, nobody is admitted.
local function close_sold_out(outbox, life, concert, now_ms)
  if redis.call('HSETNX', life, 'soldOutAt', int(now_ms)) == 1 then
    queue_event(outbox, life, concert, 'sold-out', now_ms, {})
  end
end
