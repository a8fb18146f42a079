-- Guest entries whose last game is older than their ttl: off the board, their keys gone, at most
-- `chunk` of them. Returns how many went.
--- @include "_board_changed.lua"
local guests, scores, meta = KEYS[1], KEYS[2], KEYS[3]
local oldest_ms, chunk, recent_prefix, entry_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]  -- oldest_ms: the oldest kept
local now_ms, channel, board = ARGV[5], ARGV[6], ARGV[7]

local gone = redis.call('ZRANGEBYSCORE', guests, '-inf', '(' .. oldest_ms, 'LIMIT', 0, tonumber(chunk))
local shown = 0
for _, member in ipairs(gone) do
  redis.call('ZREM', guests, member)
  redis.call('DEL', recent_prefix .. member, entry_prefix .. member)
  shown = shown + redis.call('ZREM', scores, member)
end
if shown > 0 then
  board_changed(meta, now_ms, channel, board)
end
return #gone
