-- A guest names their address's entry. Returns the board's new version, or 0.
--- @include "_recount.lua"
local name, guest_ttl = ARGV[7], ARGV[8]  -- guest_ttl in seconds

local renamed = redis.call('HGET', entry, 'name') ~= name
redis.call('HSET', entry, 'name', name, 'guest', '1')
keep_guest(guest_ttl)
return recount(renamed)
