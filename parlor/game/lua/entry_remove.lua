-- Take a player off a board and forget their games there (their account is gone, or their guest
-- entry expired). Returns the board's new version, or 0 if the entry was not on it.
--- @include "_board_changed.lua"
local recent, entry, scores, meta, guests = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local member, now_ms, channel, board = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

redis.call('DEL', recent, entry)
redis.call('ZREM', guests, member)
if redis.call('ZREM', scores, member) == 0 then return 0 end
return board_changed(meta, now_ms, channel, board)
