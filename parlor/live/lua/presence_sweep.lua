-- Users whose every claim lapsed go offline, 200 at a time. Returns how many are online.
local online = KEYS[1]
local now_ms, channel = ARGV[1], ARGV[2]

for _, u in ipairs(redis.call('ZRANGEBYSCORE', online, '-inf', now_ms, 'LIMIT', 0, 200)) do
  redis.call('ZREM', online, u)
  redis.call('PUBLISH', channel, u .. '\n0')
end
return redis.call('ZCARD', online)
