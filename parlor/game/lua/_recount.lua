-- Shared by the scripts that change an entry, which take these KEYS and ARGV first, then their
-- own: `recount` recounts the entry from its recent games and puts it on its board, or takes it
-- off, as its games say (a hidden entry is never on it); `renamed` bumps the version of a board it
-- is on even when its place is the same. It returns the board's new version, or 0 if the board
-- did not change. `keep_guest` keeps a guest entry `ttl` seconds after its last game.
--- @include "_board_changed.lua"
-- guests: the board's guest entries (hide and show pass no such key: they keep no guest).
local recent, entry, scores, meta, guests = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
-- forfeit_guesses: what a forfeit (or a worse game) counts as; board: its number, the notice.
local member, min_games, forfeit_guesses, now_ms, channel, board = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local function recount(renamed)
  local forfeit = tonumber(forfeit_guesses)
  local total, games, forfeits = 0, 0, 0
  for _, item in ipairs(redis.call('LRANGE', recent, 0, -1)) do
    local guesses = tonumber(string.match(item, ':(%d+)$'))
    if guesses == 0 then forfeits = forfeits + 1 end
    if guesses == 0 or guesses > forfeit then guesses = forfeit end
    total, games = total + guesses, games + 1
  end
  local average = 0
  if games > 0 then average = math.floor(total * 1000 / games + 0.5) end
  redis.call('HSET', entry, 'average_milli', average, 'games', games, 'forfeits', forfeits)
  local details = redis.call('HMGET', entry, 'name', 'guesses', 'hidden')
  local old = redis.call('ZSCORE', scores, member)
  local new = nil
  if games >= tonumber(min_games) and details[1] and details[1] ~= '' and details[2] and details[3] ~= '1' then
    new = average * 1024 + tonumber(details[2])
  end
  if new == nil then
    if not old then return 0 end
    redis.call('ZREM', scores, member)
  else
    if old and tonumber(old) == new and not renamed then return 0 end
    redis.call('ZADD', scores, new, member)
  end
  return board_changed(meta, now_ms, channel, board)
end
local function keep_guest(ttl)
  redis.call('ZADD', guests, now_ms, member)
  redis.call('EXPIRE', recent, ttl)
  redis.call('EXPIRE', entry, ttl)
end
