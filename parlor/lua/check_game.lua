-- A game start: the address's bucket and the visitor's (only when there is a visitor), both
-- charged or neither. Returns {code, ms to wait}: 0 started, 1 the address is over its limit,
-- 2 the visitor.
--- @include "_gcra.lua"
local address_bucket, visitor_bucket = KEYS[1], KEYS[2]
local address_count, address_ms, visitor_count, visitor_ms, has_visitor = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local address, wait = bucket(address_bucket, address_count, address_ms)
if address == false then return {1, wait} end
local visitor = nil  -- no visitor: nothing to charge
if has_visitor == '1' then visitor, wait = bucket(visitor_bucket, visitor_count, visitor_ms) end
if visitor == false then return {2, wait} end
charge(address_bucket, address)
charge(visitor_bucket, visitor)
return {0, 0}
