-- Shared by every script; prepended first at build time (src/store/scripts.rs).
-- Nothing here raises an error, so a script may call these after its checks.

-- The Redis clock: milliseconds and microseconds since the epoch.
local function redis_clock()
  local t = redis.call('TIME')
  local sec, usec = tonumber(t[1]), tonumber(t[2])
  return sec * 1000 + math.floor(usec / 1000), sec * 1000000 + usec
end

-- Integers as exact decimal strings (tostring would switch to exponent notation).
local function int(n)
  return string.format('%.0f', n)
end
