-- A new password-reset link: the user's old one (if any) ends.
local link, pointer = KEYS[1], KEYS[2]  -- the new link's key, the user's pointer to their link
local user, ttl_s = ARGV[1], ARGV[2]

local old = redis.call('GET', pointer)
if old then redis.call('DEL', old) end
redis.call('SET', link, user, 'EX', ttl_s)
redis.call('SET', pointer, link, 'EX', ttl_s)
return 1
