-- One more connection of `user` on `process`, unless the user has `limit` connections already
-- (claims that lapsed do not count). Returns -1 over the limit, 1 if the user just came online,
-- else 0.
--- @include "_claim.lua"
local presence, conns, online = KEYS[1], KEYS[2], KEYS[3]  -- presence:<user>, conns:<user>, online
-- lapse_ms: when this claim lapses unless renewed; channel: where going online is told.
local process, lapse_ms, now_ms, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local user, channel, ttl_s = ARGV[5], ARGV[6], ARGV[7]

for _, p in ipairs(redis.call('ZRANGEBYSCORE', presence, '-inf', now_ms)) do
  redis.call('ZREM', presence, p)
  redis.call('HDEL', conns, p)
end
local total = 0
for _, n in ipairs(redis.call('HVALS', conns)) do total = total + tonumber(n) end
if total >= tonumber(limit) then return -1 end
redis.call('HINCRBY', conns, process, 1)
if claim(presence, conns, online, user, process, lapse_ms, ttl_s, now_ms, channel) then return 1 end
return 0
