-- Step 2 of a payment in steps, in the wallet's slot: takes the price of one payment
-- attempt from the wallet, once. The attempt's debit record remembers the ledger entry and
-- the balance after, so a retry (or the sweeper) gets the same answer without a second
-- debit; a record the sweeper voided first (lua/void_debit.lua) refuses, so a late step 2
-- can never take money for a payment already abandoned.
-- KEYS: 1 wallet, 2 the attempt's debit record
-- ARGV: 1 user, 2 amount, 3 record ttl_ms
-- Returns {created (0 replay, 1 new), ledgerId, balanceAfter}
local wallet, debit = KEYS[1], KEYS[2]
local user, amount, ttl_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local recorded = redis.call('HMGET', debit, 'void', 'ledgerId', 'balanceAfter')
if recorded[1] then
  return redis.error_reply('PAYMENT_ABANDONED the payment attempt was abandoned')
end
if recorded[2] then
  return {0, recorded[2], tonumber(recorded[3])}
end
if not wallet_covers(wallet, amount) then
  return redis.error_reply('INSUFFICIENT_BALANCE the balance does not cover the price')
end

local ledger_id, balance_after = take_from_wallet(wallet, user, amount)
redis.call('HSET', debit, 'amount', int(amount), 'ledgerId', ledger_id,
  'balanceAfter', int(balance_after), 'atMs', int(redis_clock()))
redis.call('PEXPIRE', debit, ttl_ms)
return {1, ledger_id, balance_after}
