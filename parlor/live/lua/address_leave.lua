-- One live connection from an address fewer, for this process's claim (nothing if it lapsed:
-- its counts were dropped already).
-- KEYS: live-from:<address>. ARGV: process, 1 if the connection had no account, else 0.
local counts, process, anonymous = KEYS[1], ARGV[1], ARGV[2]
if redis.call('HEXISTS', counts, process .. ':until') == 0 then return 0 end
local left = redis.call('HINCRBY', counts, process, -1)
if anonymous == '1' then redis.call('HINCRBY', counts, process .. ':anonymous', -1) end
if left <= 0 then redis.call('HDEL', counts, process, process .. ':anonymous', process .. ':until') end
return left
