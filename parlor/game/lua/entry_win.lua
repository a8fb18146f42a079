-- A game was won: its forfeit is replaced by its guess count (if it is still among the recent
-- games), and it may be the best game. Once per game (the game is marked counted). Returns the
-- board's new version, 0 if the board did not change, -1 if the game is not won, -2 if it was
-- counted already.
--- @include "_recount.lua"
local game = KEYS[6]
local game_id, guesses, finished_ms, duration_ms = ARGV[7], ARGV[8], ARGV[9], ARGV[10]

local state = redis.call('HMGET', game, 'status', 'counted')
if state[1] ~= 'won' then return -1 end
if state[2] then return -2 end
redis.call('HSET', game, 'counted', '1')
local placeholder = game_id .. ':0'
local items = redis.call('LRANGE', recent, 0, -1)
local found = false
for i, item in ipairs(items) do
  if item == placeholder then
    redis.call('LSET', recent, i - 1, game_id .. ':' .. guesses)
    found = true
    break
  end
end
if not found then return 0 end  -- pushed out by newer games: it no longer counts
local best = redis.call('HGET', entry, 'guesses')
if not best or tonumber(guesses) < tonumber(best) then
  redis.call('HSET', entry, 'guesses', guesses, 'finished_ms', finished_ms, 'duration_ms', duration_ms)
end
return recount(false)
