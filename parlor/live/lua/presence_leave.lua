-- One connection of `user` on `process` fewer. Returns 1 if the user went offline, else 0.
local presence, conns, online = KEYS[1], KEYS[2], KEYS[3]  -- presence:<user>, conns:<user>, online
-- linger: 1 lets the claim lapse by itself, for a long poll that comes straight back.
local process, now_ms, user, channel, linger = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

if redis.call('HINCRBY', conns, process, -1) > 0 then return 0 end
redis.call('HDEL', conns, process)
if linger == '1' then return 0 end
redis.call('ZREM', presence, process)
if redis.call('ZCOUNT', presence, '(' .. now_ms, '+inf') > 0 then return 0 end
if redis.call('ZREM', online, user) == 1 then
  redis.call('PUBLISH', channel, user .. '\n0')
  return 1
end
return 0
