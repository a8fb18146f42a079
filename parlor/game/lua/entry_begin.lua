-- A game starts: it counts as a forfeit until it is won. Returns the board's new version, or 0.
--- @include "_recount.lua"
-- name: a user's own ('' for a guest entry); guest: 1/0; guest_ttl in seconds.
local game_id, recent_games, name, guest, guest_ttl = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]

redis.call('LPUSH', recent, game_id .. ':0')
redis.call('LTRIM', recent, 0, tonumber(recent_games) - 1)
redis.call('HSET', entry, 'guest', guest)
if name ~= '' then redis.call('HSET', entry, 'name', name) end
if guest == '1' then keep_guest(guest_ttl) end
return recount(false)
