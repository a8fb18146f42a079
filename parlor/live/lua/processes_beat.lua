-- A process says it is alive for ttl_ms more, drops processes whose time ran out, and learns who
-- is alive. Times are Redis's own clock, one clock for every process and host.
-- KEYS: the registry (a sorted set: process -> when its claim lapses, ms). ARGV: process, ttl_ms.
-- Returns every process alive, this one too.
local registry = KEYS[1]
local process, ttl_ms = ARGV[1], tonumber(ARGV[2])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', registry, '-inf', now_ms)
redis.call('ZADD', registry, now_ms + ttl_ms, process)
redis.call('PEXPIRE', registry, ttl_ms)
return redis.call('ZRANGE', registry, 0, -1)
