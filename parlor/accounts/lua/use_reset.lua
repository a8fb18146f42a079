-- Use a password-reset link once: the link as stored (JSON, or a user's name for a link made
-- before links kept their maker), or false. Its user's pointer to it goes with it.
local link = KEYS[1]
local pointer_prefix = ARGV[1]

local stored = redis.call('GET', link)
if not stored then return false end
redis.call('DEL', link)
local ok, fields = pcall(cjson.decode, stored)
local user = (ok and type(fields) == 'table' and fields.user) or stored
if redis.call('GET', pointer_prefix .. user) == link then redis.call('DEL', pointer_prefix .. user) end
return stored
