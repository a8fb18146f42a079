-- Renew this process's claims on some addresses (every heartbeat), or drop them (at shutdown).
-- A claim that still stands keeps its counts: joins and leaves change them one by one, and a
-- count written from this process's own tally could undo a join Redis has counted and the
-- process has not heard back about yet. A claim that lapsed (a stalled process) is written
-- again from the tally.
-- KEYS: live-from:<address> per address. ARGV: process, lapse_ms, ttl_s, then per address its
-- connections and those without an account (0 and 0: drop the claim).
local process, lapse_ms, ttl_s = ARGV[1], ARGV[2], ARGV[3]
for i, counts in ipairs(KEYS) do
  local all, anonymous = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  if all <= 0 then
    redis.call('HDEL', counts, process, process .. ':anonymous', process .. ':until')
  elseif redis.call('HEXISTS', counts, process .. ':until') == 1 then
    redis.call('HSET', counts, process .. ':until', lapse_ms)
    redis.call('EXPIRE', counts, ttl_s)
  else
    redis.call('HSET', counts, process, all, process .. ':anonymous', anonymous, process .. ':until', lapse_ms)
    redis.call('EXPIRE', counts, ttl_s)
  end
end
return #KEYS
