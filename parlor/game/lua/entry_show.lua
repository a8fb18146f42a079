-- Show a hidden entry again, where its games put it. Returns the board's new version, or 0.
--- @include "_recount.lua"

if redis.call('HDEL', entry, 'hidden') == 0 then return 0 end
return recount(false)
