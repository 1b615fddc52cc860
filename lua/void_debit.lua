-- The sweeper's question to the wallet's slot about a payment attempt stuck PAYING: was its
-- debit taken? If so, the answer is the debit (the sweeper then confirms the sale); if not,
-- the attempt's record becomes a tombstone, so its step 2 can never take the money later
-- (the sweeper then returns the reservation to HELD).
-- KEYS: 1 the attempt's debit record
-- ARGV: 1 record ttl_ms
-- Returns {'debited', ledgerId, balanceAfter} or {'void', '', 0}
local debit, ttl_ms = KEYS[1], tonumber(ARGV[1])

local recorded = redis.call('HMGET', debit, 'void', 'ledgerId', 'balanceAfter')
if recorded[2] then
  return {'debited', recorded[2], tonumber(recorded[3])}
end
if not recorded[1] then
  redis.call('HSET', debit, 'void', 1)
  redis.call('PEXPIRE', debit, ttl_ms)
end
return {'void', '', 0}
