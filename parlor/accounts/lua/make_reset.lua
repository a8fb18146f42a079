-- A new password-reset link: the user's old one (if any) ends.
local link, pointer = KEYS[1], KEYS[2]  -- the new link's key, the user's pointer to their link
local stored, ttl_s = ARGV[1], ARGV[2]  -- the link as JSON (user, made_by, made_ms); its lifetime

local old = redis.call('GET', pointer)
if old then redis.call('DEL', old) end
redis.call('SET', link, stored, 'EX', ttl_s)
redis.call('SET', pointer, link, 'EX', ttl_s)
return 1
