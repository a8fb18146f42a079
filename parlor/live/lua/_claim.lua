-- Shared by join and renew: `process` claims `user` until lapse_ms (its keys kept ttl_s). A user
-- with no claim in `online` past now_ms comes online, which is told on `channel`: then it
-- returns true.
local function claim(presence, conns, online, user, process, lapse_ms, ttl_s, now_ms, channel)
  redis.call('ZADD', presence, lapse_ms, process)
  redis.call('EXPIRE', presence, ttl_s)
  redis.call('EXPIRE', conns, ttl_s)
  local before = redis.call('ZSCORE', online, user)
  redis.call('ZADD', online, 'GT', lapse_ms, user)
  if (not before) or tonumber(before) <= tonumber(now_ms) then
    redis.call('PUBLISH', channel, user .. '\n1')
    return true
  end
  return false
end
