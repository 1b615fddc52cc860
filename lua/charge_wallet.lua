-- Charge a wallet: adds `amount` unless the balance would pass its maximum or the wallet's
-- charge budget is spent, records a ledger entry in the outbox and, with an
-- Idempotency-Key, remembers the answer so a retry gets it again without a second charge
-- (the same key with another amount is a conflict). A replay is no new charge: it spends
-- no budget. The budget is a bucket of `per_min` charges in the wallet hash, refilled over
-- a minute (0: none). A user keeps at most `keys_kept` answers: a new key beyond that
-- evicts the oldest (its record goes; a retry with it would charge again).
-- KEYS: 1 wallet, 2 outbox, then only with a key: 3 idempotency record, 4 the user's index
--       of them (key -> first use, ms)
-- ARGV: 1 user, 2 amount, 3 max_balance, 4 idempotency key ('' for none), 5 key ttl_ms,
--       6 per_min (charges per minute, 0 = no budget), 7 keys_kept
-- Returns {created (0 replay, 1 new), balanceAfter}
local wallet, outbox, idem, idem_index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local user, amount, max_balance = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local idem_key, idem_ttl_ms = ARGV[4], tonumber(ARGV[5])
local per_min, keys_kept = tonumber(ARGV[6]), tonumber(ARGV[7])

if idem then
  local first = redis.call('HMGET', idem, 'amount', 'balance')
  if first[1] then
    if tonumber(first[1]) ~= amount then
      return redis.error_reply('IDEMPOTENCY_CONFLICT the key was used with another amount')
    end
    return {0, tonumber(first[2])}
  end
end
local w = redis.call('HMGET', wallet, 'balance', 'chargeTokens', 'chargeTs')
local balance = tonumber(w[1]) or 0
if balance + amount > max_balance then
  return redis.error_reply('BALANCE_LIMIT the balance would pass its maximum')
end
local now_ms = redis_clock()
local budget_left
if per_min > 0 then
  budget_left = tonumber(w[2]) or per_min
  local since = now_ms - (tonumber(w[3]) or now_ms)
  if since > 0 then
    budget_left = math.min(per_min, budget_left + since * per_min / 60000)
  end
  if budget_left < 1 then
    local wait_ms = math.ceil((1 - budget_left) * 60000 / per_min)
    return redis.error_reply('RATE_LIMITED ' .. int(wait_ms) .. ' ms until this wallet takes another charge')
  end
end

local balance_after = balance + amount
redis.call('HSET', wallet, 'balance', int(balance_after))
if budget_left then
  redis.call('HSET', wallet, 'chargeTokens', tostring(budget_left - 1), 'chargeTs', int(now_ms))
end
local ledger_id = 'L' .. user .. '-' .. redis.call('HINCRBY', wallet, 'ledgerSeq', 1)
redis.call('XADD', outbox, '*', 'type', 'wallet.charged', 'id', ledger_id, 'data', json_object({
  'ledgerId', ledger_id, 'userId', tonumber(user), 'amount', amount,
  'balanceAfter', balance_after, 'idempotencyKey', idem and idem_key or false,
  'chargedAtMs', now_ms}))
if idem then
  redis.call('HSET', idem, 'amount', int(amount), 'balance', int(balance_after),
    'ledgerId', ledger_id)
  redis.call('PEXPIRE', idem, idem_ttl_ms)
  -- The index: drop the keys whose records have expired, evict the oldest beyond the cap
  -- (records live at `<index>:<key>`, in this user's slot), then add this one.
  redis.call('ZREMRANGEBYSCORE', idem_index, '-inf', int(now_ms - idem_ttl_ms))
  local excess = redis.call('ZCARD', idem_index) - (keys_kept - 1)
  if excess > 0 then
    local oldest = redis.call('ZPOPMIN', idem_index, excess)
    for i = 1, #oldest, 2 do
      redis.call('DEL', idem_index .. ':' .. oldest[i])
    end
  end
  redis.call('ZADD', idem_index, int(now_ms), idem_key)
  redis.call('PEXPIRE', idem_index, idem_ttl_ms)
end
return {1, balance_after}
