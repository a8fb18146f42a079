-- Entries of a best-game board (their score packs a best game's guesses with its finish time,
-- always above OLD_SCORES) mean something else than an average: they go, and their players are
-- back after their next MIN_GAMES games. Returns how many went.
--- @include "_board_changed.lua"
local scores, meta = KEYS[1], KEYS[2]
local old_scores, entry_prefix, now_ms, channel, board = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local old = redis.call('ZRANGEBYSCORE', scores, old_scores, '+inf')
for _, member in ipairs(old) do
  redis.call('ZREM', scores, member)
  redis.call('DEL', entry_prefix .. member)
end
if #old > 0 then
  board_changed(meta, now_ms, channel, board)
end
return #old
