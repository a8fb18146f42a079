-- Hide an entry while its account is suspended: off the board, its games kept. Returns the
-- board's new version, or 0.
--- @include "_board_changed.lua"
local entry, scores, meta = KEYS[2], KEYS[3], KEYS[4]  -- KEYS[1], the recent games, is kept
local member, now_ms, channel, board = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('EXISTS', entry) == 0 then return 0 end
redis.call('HSET', entry, 'hidden', '1')
if redis.call('ZREM', scores, member) == 0 then return 0 end
return board_changed(meta, now_ms, channel, board)
