"""The Lua that changes and reads the boards, each script one atomic step (parlor/game/leaderboards.py
calls them; parlor/game/ranking.py says what the keys hold and how a score is packed)."""

# The board changed: a new version (the ETag and the fragment cache's key), when, and a notice to
# every process (pub/sub). Returns the new version. Every script that changes a board ends with it.
_BOARD_CHANGED_LUA = """
local function board_changed(meta, now_ms, channel, board)
  local version = redis.call('HINCRBY', meta, 'version', 1)
  redis.call('HSET', meta, 'updated_ms', now_ms)
  redis.call('PUBLISH', channel, board)
  return version
end
"""

# Shared by the scripts that change an entry: recount it from its recent games and put it on its
# board, or take it off, as its games say (a hidden entry is never on it); `renamed` bumps the version of a board it is on even
# when its place is the same. KEYS: recent, entry, board, meta. ARGV[1..6]: member, minimum
# games, forfeit value, now ms, channel, board. Returns the board's new version, or 0 if the
# board did not change.
_RECOUNT_LUA = _BOARD_CHANGED_LUA + """
local function recount(renamed)
  local forfeit = tonumber(ARGV[3])
  local total, games, forfeits = 0, 0, 0
  for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
    local guesses = tonumber(string.match(item, ':(%d+)$'))
    if guesses == 0 then forfeits = forfeits + 1 end
    if guesses == 0 or guesses > forfeit then guesses = forfeit end
    total, games = total + guesses, games + 1
  end
  local average = 0
  if games > 0 then average = math.floor(total * 1000 / games + 0.5) end
  redis.call('HSET', KEYS[2], 'average_milli', average, 'games', games, 'forfeits', forfeits)
  local entry = redis.call('HMGET', KEYS[2], 'name', 'guesses', 'hidden')
  local old = redis.call('ZSCORE', KEYS[3], ARGV[1])
  local new = nil
  if games >= tonumber(ARGV[2]) and entry[1] and entry[1] ~= '' and entry[2] and entry[3] ~= '1' then
    new = average * 1024 + tonumber(entry[2])
  end
  if new == nil then
    if not old then return 0 end
    redis.call('ZREM', KEYS[3], ARGV[1])
  else
    if old and tonumber(old) == new and not renamed then return 0 end
    redis.call('ZADD', KEYS[3], new, ARGV[1])
  end
  return board_changed(KEYS[4], ARGV[4], ARGV[5], ARGV[6])
end
-- A guest entry is kept GUEST_ENTRY_TTL_S after its last game (KEYS[5]: the board's guests).
local function keep_guest(ttl)
  redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
"""

# A game starts: it counts as a forfeit until it is won. KEYS: recent, entry, board, meta,
# guests. ARGV: as recount, then game id, recent games kept, name (a user's own; '' for a
# guest entry), guest (1/0), guest ttl (s).
BEGIN_LUA = _RECOUNT_LUA + """
redis.call('LPUSH', KEYS[1], ARGV[7] .. ':0')
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[8]) - 1)
redis.call('HSET', KEYS[2], 'guest', ARGV[10])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'name', ARGV[9]) end
if ARGV[10] == '1' then keep_guest(ARGV[11]) end
return recount(false)
"""

# A game was won: its forfeit is replaced by its guess count (if it is still among the recent
# games), and it may be the best game. Once per game (KEYS[6], the game, is marked counted).
# KEYS: recent, entry, board, meta, guests, game. ARGV: as recount, then game id, guesses,
# finished ms, duration ms. Returns -1 if the game is not won, -2 if it was counted already.
WIN_LUA = _RECOUNT_LUA + """
local game = redis.call('HMGET', KEYS[6], 'status', 'counted')
if game[1] ~= 'won' then return -1 end
if game[2] then return -2 end
redis.call('HSET', KEYS[6], 'counted', '1')
local placeholder = ARGV[7] .. ':0'
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local found = false
for i, item in ipairs(items) do
  if item == placeholder then
    redis.call('LSET', KEYS[1], i - 1, ARGV[7] .. ':' .. ARGV[8])
    found = true
    break
  end
end
if not found then return 0 end  -- pushed out by newer games: it no longer counts
local best = redis.call('HGET', KEYS[2], 'guesses')
if not best or tonumber(ARGV[8]) < tonumber(best) then
  redis.call('HSET', KEYS[2], 'guesses', ARGV[8], 'finished_ms', ARGV[9], 'duration_ms', ARGV[10])
end
return recount(false)
"""

# A guest names their address's entry. KEYS: recent, entry, board, meta, guests. ARGV: as
# recount, then the name, guest ttl (s).
NAME_LUA = _RECOUNT_LUA + """
local renamed = redis.call('HGET', KEYS[2], 'name') ~= ARGV[7]
redis.call('HSET', KEYS[2], 'name', ARGV[7], 'guest', '1')
keep_guest(ARGV[8])
return recount(renamed)
"""

# Take a player off a board and forget their games there (their account is gone, or their guest
# entry expired). KEYS: recent, entry, board, meta, guests. ARGV: member, now ms, channel, board.
REMOVE_LUA = _BOARD_CHANGED_LUA + """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[5], ARGV[1])
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
return board_changed(KEYS[4], ARGV[2], ARGV[3], ARGV[4])
"""

# Hide an entry while its account is suspended: off the board, its games kept. KEYS: recent,
# entry, board, meta. ARGV: member, now ms, channel, board. Returns the new version, or 0.
HIDE_LUA = _BOARD_CHANGED_LUA + """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'hidden', '1')
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
return board_changed(KEYS[4], ARGV[2], ARGV[3], ARGV[4])
"""

# Show a hidden entry again, where its games put it. KEYS: recent, entry, board, meta. ARGV: as recount.
SHOW_LUA = _RECOUNT_LUA + """
if redis.call('HDEL', KEYS[2], 'hidden') == 0 then return 0 end
return recount(false)
"""

# Guest entries whose last game is older than their ttl: off the board, their keys gone.
# KEYS: guests, board, meta. ARGV: oldest kept (ms), chunk, recent prefix, entry prefix, now ms,
# channel, board. Returns how many went.
SWEEP_GUESTS_LUA = _BOARD_CHANGED_LUA + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local shown = 0
for _, member in ipairs(gone) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('DEL', ARGV[3] .. member, ARGV[4] .. member)
  shown = shown + redis.call('ZREM', KEYS[2], member)
end
if shown > 0 then
  board_changed(KEYS[3], ARGV[5], ARGV[6], ARGV[7])
end
return #gone
"""

# Entries of a best-game board (their score packs a best game's guesses with its finish time,
# always above OLD_SCORES) mean something else than an average: they go, and their players are
# back after their next MIN_GAMES games. KEYS: board, meta. ARGV: OLD_SCORES, entry
# prefix, now ms, channel, board. Returns how many went.
DROP_OLD_LUA = _BOARD_CHANGED_LUA + """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
for _, member in ipairs(old) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('DEL', ARGV[2] .. member)
end
if #old > 0 then
  board_changed(KEYS[2], ARGV[3], ARGV[4], ARGV[5])
end
return #old
"""

# A page of a board with each entry's details and what is needed for shared ranks, read
# atomically in one round trip.
PAGE_LUA = """
local meta = redis.call('HMGET', KEYS[2], 'version', 'updated_ms')
local total = redis.call('ZCARD', KEYS[1])
local start, count = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[5] ~= '' then  -- around a member: their place and AROUND either side
  local place = redis.call('ZRANK', KEYS[1], ARGV[5])
  if not place then return false end
  start = math.max(0, place - tonumber(ARGV[6]))
  count = place - start + tonumber(ARGV[6]) + 1
end
local members = redis.call('ZRANGE', KEYS[1], start, start + count - 1, 'WITHSCORES')
local better = 0
if #members > 0 then
  local average = math.floor(tonumber(members[2]) / tonumber(ARGV[3]))
  better = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. string.format('%.0f', average * tonumber(ARGV[3])))
end
local rows = {}
for i = 1, #members, 2 do
  local d = redis.call('HMGET', ARGV[4] .. members[i], 'name', 'guest', 'finished_ms', 'duration_ms',
                      'games', 'forfeits')
  rows[#rows + 1] = {members[i], members[i + 1], d[1] or '', d[2] or '0', d[3] or '0', d[4] or '0',
                     d[5] or '0', d[6] or '0'}
end
return {meta[1] or '0', meta[2] or '0', total, better, rows, start}
"""
