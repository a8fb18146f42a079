-- A new game, atomically: the player's open game on that board (if still being played) is
-- forfeited first, since a player has one game per board at a time. Returns the forfeited
-- game's id or ''.
-- open_games: of whoever starts it (board -> game id); member: the board entry it counts for;
-- history_ttl (s): 0 for none; game_prefix: the game key without its id.
local game, player_games, open_games, history = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local game_id, player, board, secret, now_ms, game_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local member, history_length, history_ttl, game_prefix = ARGV[7], ARGV[8], ARGV[9], ARGV[10]

local forfeited = ''
local old = redis.call('HGET', open_games, board)
if old then
  local old_key = game_prefix .. old
  local g = redis.call('HMGET', old_key, 'status', 'count', 'started_ms')
  if g[1] == 'playing' then
    redis.call('HSET', old_key, 'status', 'forfeit', 'finished_ms', now_ms)
    redis.call('ZREM', player_games, old)
    redis.call('LPUSH', history, cjson.encode({board = tonumber(board), guesses = tonumber(g[2]),
      status = 'forfeit', finished_ms = tonumber(now_ms), duration_ms = tonumber(now_ms) - tonumber(g[3])}))
    redis.call('LTRIM', history, 0, tonumber(history_length) - 1)
    if tonumber(history_ttl) > 0 then redis.call('EXPIRE', history, history_ttl) end
    forfeited = old
  end
end
redis.call('HSET', game, 'player', player, 'max', board, 'secret', secret, 'status', 'playing',
           'count', 0, 'started_ms', now_ms, 'member', member)
redis.call('EXPIRE', game, game_ttl)
redis.call('ZADD', player_games, now_ms, game_id)
redis.call('ZREMRANGEBYSCORE', player_games, '-inf', tonumber(now_ms) - tonumber(game_ttl) * 1000)
redis.call('EXPIRE', player_games, game_ttl)
redis.call('HSET', open_games, board, game_id)
redis.call('EXPIRE', open_games, game_ttl)
return forfeited
