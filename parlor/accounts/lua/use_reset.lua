-- Use a password-reset link once: its user, or false.
local link = KEYS[1]
local pointer_prefix = ARGV[1]

local user = redis.call('GET', link)
if not user then return false end
redis.call('DEL', link)
if redis.call('GET', pointer_prefix .. user) == link then redis.call('DEL', pointer_prefix .. user) end
return user
