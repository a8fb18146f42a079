-- One guess, atomically: refuse it on another player's or a finished game, or over the game's
-- rate limit, count it, answer it, and finish the game when it is right or when it reaches the
-- guess limit. A win also counts in its board's histogram and in the player's own (their keys
-- are made here, as counts_key/player_counts_key name them: the board is only known here, from
-- the game). A number already guessed is refused and not counted (nor charged to the rate
-- limit). Returns {result, count, status}, or why not: {'missing'}, {'finished', status},
-- {'range', max}, {'repeat', the answer it had}, {'slow', ms to wait}.
--- @include "../../lua/_gcra.lua"
local game, guesses, player_games, history, guess_bucket = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local value, player, now_ms, max_guesses, game_ttl, game_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local history_length, history_ttl = ARGV[7], ARGV[8]  -- history ttl (s): 0 for none
local limit_count, limit_ms = ARGV[9], ARGV[10]  -- the game's rate limit
local counts_prefix, member = ARGV[11], ARGV[12]

local g = redis.call('HMGET', game, 'player', 'status', 'secret', 'max', 'count', 'started_ms')
if not g[1] or g[1] ~= player then return {'missing'} end
if g[2] ~= 'playing' then return {'finished', g[2]} end
local guess, max = tonumber(value), tonumber(g[4])
if guess < 1 or guess > max then return {'range', g[4]} end
for _, answered in ipairs({'h', 'l'}) do  -- a right guess ends the game, so only these can repeat
  if redis.call('LPOS', guesses, value .. ':' .. answered) then return {'repeat', answered} end
end
local allowed, wait = bucket(guess_bucket, limit_count, limit_ms)
if allowed == false then return {'slow', tostring(wait)} end
charge(guess_bucket, allowed)
local secret = tonumber(g[3])
local result = 'c'
if guess < secret then result = 'h' elseif guess > secret then result = 'l' end
local count = redis.call('HINCRBY', game, 'count', 1)
redis.call('RPUSH', guesses, value .. ':' .. result)
local status = 'playing'
if count >= tonumber(max_guesses) then status = 'unranked' elseif result == 'c' then status = 'won' end
if status ~= 'playing' then
  redis.call('HSET', game, 'status', status, 'finished_ms', now_ms)
  redis.call('ZREM', player_games, game_id)
  redis.call('LPUSH', history, cjson.encode({board = max, guesses = count, status = status,
    finished_ms = tonumber(now_ms), duration_ms = tonumber(now_ms) - tonumber(g[6])}))
  redis.call('LTRIM', history, 0, tonumber(history_length) - 1)
  if tonumber(history_ttl) > 0 then redis.call('EXPIRE', history, history_ttl) end
  if status == 'won' then
    local counts = counts_prefix .. g[4]
    local own = counts .. ':' .. member
    redis.call('HINCRBY', counts, count, 1)
    redis.call('HINCRBY', own, count, 1)
    if tonumber(history_ttl) > 0 then redis.call('EXPIRE', own, history_ttl) end
  end
end
redis.call('EXPIRE', game, game_ttl)
redis.call('EXPIRE', guesses, game_ttl)
return {result, tostring(count), status}
