-- Deletes an account: its hash and API token go, its name (and its look-alikes) stay reserved.
-- Returns 1, or 0 if there was no such account.
local user, reserved, look_alike, by_age, by_name = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local reserved_s, name = ARGV[1], ARGV[2]  -- how long the name stays reserved

local token = redis.call('HGET', user, 'api_token_key')
if redis.call('DEL', user) == 0 then return 0 end
if token then redis.call('DEL', token) end
redis.call('ZREM', by_age, name)
redis.call('ZREM', by_name, name)
redis.call('SET', reserved, '1', 'EX', reserved_s)
if redis.call('GET', look_alike) == name then redis.call('EXPIRE', look_alike, reserved_s) end
return 1
