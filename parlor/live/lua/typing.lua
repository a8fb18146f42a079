-- Tell `to` that `who` is typing, at most once every `every_ms`, and never between two people
-- when either blocked the other. Returns 1 if the notice was published, else 0.
local throttle_key, blocked_by_who, blocked_by_to = KEYS[1], KEYS[2], KEYS[3]  -- typing:<who>:<to>, blocks:<who>, blocks:<to>
local who, to, every_ms, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('SISMEMBER', blocked_by_who, to) == 1 or redis.call('SISMEMBER', blocked_by_to, who) == 1 then
  return 0
end
if not redis.call('SET', throttle_key, '1', 'PX', every_ms, 'NX') then return 0 end
redis.call('PUBLISH', channel, who .. '\n' .. to)
return 1
