-- Whether one more action fits in a bucket, charging nothing. Returns the ms to wait (0: it fits).
--- @include "_gcra.lua"
local bucket_key = KEYS[1]
local count, period_ms = ARGV[1], ARGV[2]

local tat, wait = bucket(bucket_key, count, period_ms)
if tat == false then return wait end
return 0
