-- The live seat map of one schedule for an ACTIVE buyer (read only): a lapsed hold reads
-- AVAILABLE at once, whether or not the sweeper has run.
-- KEYS: 1 q:active, 2 q:active_seq, 3 seats, 4 held, 5 holds, 6 sold
-- ARGV: 1 user, 2 token seq
-- Returns {seatNo, price, status (0 AVAILABLE, 1 HELD, 2 SOLD), ...}
local active, active_seq, seats, held, holds, sold =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now_ms = redis_clock()

if not token_is_active(active, active_seq, ARGV[1], ARGV[2], now_ms) then
  return redis.error_reply('TOKEN_NOT_ACTIVE the token is not active for this concert')
end
local prices = redis.call('HGETALL', seats)
if #prices == 0 then
  return redis.error_reply('SCHEDULE_NOT_FOUND schedule does not exist')
end
-- Four reads for the whole map, then a walk over Lua tables: the seats sold, each seat's
-- latest holder, and the schedule's live holds (a holder whose hold lapsed is not one).
local sold_seats = {}
local sold_list = redis.call('HKEYS', sold)
for i = 1, #sold_list do
  sold_seats[sold_list[i]] = true
end
local live_holds = {}
local live_list = redis.call('ZRANGEBYSCORE', holds, '(' .. int(now_ms), '+inf')
for i = 1, #live_list do
  live_holds[live_list[i]] = true
end
local holder_of = {}
if #live_list > 0 then
  local held_list = redis.call('HGETALL', held)
  for i = 1, #held_list, 2 do
    holder_of[held_list[i]] = held_list[i + 1]
  end
end
local out = {}
for i = 1, #prices, 2 do
  local seat = prices[i]
  local status = 0
  if sold_seats[seat] then
    status = 2
  else
    local holder = holder_of[seat]
    if holder and live_holds[holder] then
      status = 1
    end
  end
  out[#out + 1] = tonumber(seat)
  out[#out + 1] = tonumber(prices[i + 1])
  out[#out + 1] = status
end
return out
