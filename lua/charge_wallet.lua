-- Charge a wallet: adds `amount` unless the balance would pass its maximum, records a ledger
-- entry in the outbox and, with an Idempotency-Key, remembers the answer so a retry gets it
-- again without a second charge (the same key with another amount is a conflict).
-- KEYS: 1 wallet, 2 outbox, 3 idempotency record (only with a key)
-- ARGV: 1 user, 2 amount, 3 max_balance, 4 idempotency key ('' for none), 5 key ttl_ms
-- Returns {created (0 replay, 1 new), balanceAfter}
local wallet, outbox, idem = KEYS[1], KEYS[2], KEYS[3]
local user, amount, max_balance = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local idem_key, idem_ttl_ms = ARGV[4], tonumber(ARGV[5])

if idem then
  local first = redis.call('HMGET', idem, 'amount', 'balance')
  if first[1] then
    if tonumber(first[1]) ~= amount then
      return redis.error_reply('IDEMPOTENCY_CONFLICT the key was used with another amount')
    end
    return {0, tonumber(first[2])}
  end
end
local balance = tonumber(redis.call('HGET', wallet, 'balance')) or 0
if balance + amount > max_balance then
  return redis.error_reply('BALANCE_LIMIT the balance would pass its maximum')
end

local now_ms = redis_clock()
local balance_after = balance + amount
redis.call('HSET', wallet, 'balance', int(balance_after))
local ledger_id = 'L' .. user .. '-' .. redis.call('HINCRBY', wallet, 'ledgerSeq', 1)
redis.call('XADD', outbox, '*', 'type', 'wallet.charged', 'id', ledger_id, 'data', json_object({
  'ledgerId', ledger_id, 'userId', tonumber(user), 'amount', amount,
  'balanceAfter', balance_after, 'idempotencyKey', idem and idem_key or false,
  'chargedAtMs', now_ms}))
if idem then
  redis.call('HSET', idem, 'amount', int(amount), 'balance', int(balance_after),
    'ledgerId', ledger_id)
  redis.call('PEXPIRE', idem, idem_ttl_ms)
end
return {1, balance_after}
