-- Index the look-alike key of an account that has none (a no-op for the others). Returns 1 if
-- it indexed one, else 0.
local look_alike, user, reserved = KEYS[1], KEYS[2], KEYS[3]
local name = ARGV[1]

if redis.call('EXISTS', look_alike) == 1 then return 0 end
if redis.call('EXISTS', user) == 1 then redis.call('SET', look_alike, name) return 1 end
local ttl = redis.call('TTL', reserved)
if ttl > 0 then redis.call('SET', look_alike, name, 'EX', ttl) return 1 end
return 0
