-- Removes `user` from every block in either direction (their account is gone).
local blocks, blocked_by = KEYS[1], KEYS[2]  -- blocks:<user>, blocked-by:<user>
local user, blocks_prefix, blocked_by_prefix = ARGV[1], ARGV[2], ARGV[3]  -- the prefixes of both kinds of set

for _, peer in ipairs(redis.call('SMEMBERS', blocks)) do redis.call('SREM', blocked_by_prefix .. peer, user) end
for _, peer in ipairs(redis.call('SMEMBERS', blocked_by)) do redis.call('SREM', blocks_prefix .. peer, user) end
redis.call('DEL', blocks, blocked_by)
return 0
