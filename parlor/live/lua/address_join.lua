-- One more live connection from an address, unless it holds `limit` connections already (or
-- `anonymous_limit` without an account, for an anonymous one) on all processes together.
-- Counts of a process whose claim lapsed (it died) are dropped first.
-- KEYS: live-from:<address>, a hash: <process> -> its connections from the address,
--   <process>:anonymous -> those without an account, <process>:until -> when its claim lapses (ms).
-- Returns 0 (counted), 1 (over the limit) or 2 (over the anonymous limit).
local counts = KEYS[1]
local process, anonymous, limit, anonymous_limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local lapse_ms, now_ms, ttl_s = ARGV[5], tonumber(ARGV[6]), ARGV[7]

local fields = redis.call('HGETALL', counts)
local held = {}
for i = 1, #fields, 2 do held[fields[i]] = fields[i + 1] end
for field, value in pairs(held) do
  local owner = string.match(field, '^(.*):until$')
  if owner and tonumber(value) < now_ms then
    redis.call('HDEL', counts, owner, owner .. ':anonymous', field)
    held[owner], held[owner .. ':anonymous'], held[field] = nil, nil, nil
  end
end
local all, without_account = 0, 0
for field, value in pairs(held) do
  if string.sub(field, -10) == ':anonymous' then
    without_account = without_account + tonumber(value)
  elseif not string.match(field, ':until$') then
    all = all + tonumber(value)
  end
end
if limit > 0 and all >= limit then return 1 end
if anonymous == '1' and anonymous_limit > 0 and without_account >= anonymous_limit then return 2 end
redis.call('HINCRBY', counts, process, 1)
if anonymous == '1' then redis.call('HINCRBY', counts, process .. ':anonymous', 1) end
redis.call('HSET', counts, process .. ':until', lapse_ms)
redis.call('EXPIRE', counts, ttl_s)
return 0
