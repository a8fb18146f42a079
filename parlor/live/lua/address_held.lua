-- This process's live connections from some addresses, as it counts them now (after a leave, or
-- to renew its claim): its fields are set to these counts, or dropped where it holds none.
-- KEYS: live-from:<address> per address. ARGV: process, lapse_ms, ttl_s, then per address its
-- connections and those without an account.
local process, lapse_ms, ttl_s = ARGV[1], ARGV[2], ARGV[3]
for i, counts in ipairs(KEYS) do
  local all, anonymous = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if all > 0 then
    redis.call('HSET', counts, process, all, process .. ':anonymous', anonymous, process .. ':until', lapse_ms)
    redis.call('EXPIRE', counts, ttl_s)
  else
    redis.call('HDEL', counts, process, process .. ':anonymous', process .. ':until')
  end
end
return #KEYS
