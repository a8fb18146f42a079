-- A page of a board with each entry's details and what is needed for shared ranks, read
-- atomically in one round trip: from `offset`, or around a member (their place and `around`
-- places either side; '' for none). Returns {version, updated ms, total, entries better than the
-- first row, rows, the first row's place}, or false if the member is not on the board.
local scores, meta = KEYS[1], KEYS[2]
-- best_span: a score is average * best_span + best game (parlor/game/ranking.py)
local offset, limit, best_span, entry_prefix, around_member, around = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local stamp = redis.call('HMGET', meta, 'version', 'updated_ms')
local total = redis.call('ZCARD', scores)
local start, count = tonumber(offset), tonumber(limit)
if around_member ~= '' then
  local place = redis.call('ZRANK', scores, around_member)
  if not place then return false end
  start = math.max(0, place - tonumber(around))
  count = place - start + tonumber(around) + 1
end
local members = redis.call('ZRANGE', scores, start, start + count - 1, 'WITHSCORES')
local better = 0
if #members > 0 then
  local average = math.floor(tonumber(members[2]) / tonumber(best_span))
  better = redis.call('ZCOUNT', scores, '-inf', '(' .. string.format('%.0f', average * tonumber(best_span)))
end
local rows = {}
for i = 1, #members, 2 do
  local d = redis.call('HMGET', entry_prefix .. members[i], 'name', 'guest', 'finished_ms', 'duration_ms',
                      'games', 'forfeits')
  rows[#rows + 1] = {members[i], members[i + 1], d[1] or '', d[2] or '0', d[3] or '0', d[4] or '0',
                     d[5] or '0', d[6] or '0'}
end
return {stamp[1] or '0', stamp[2] or '0', total, better, rows, start}
