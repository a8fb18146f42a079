-- `me` blocks `peer`, at most `most_blocks` people. Returns 1 blocked, 0 already, -1 full.
local my_blocks, blocked_peer = KEYS[1], KEYS[2]  -- blocks:<me>, blocked-by:<peer>
local me, peer, most_blocks = ARGV[1], ARGV[2], ARGV[3]

if redis.call('SISMEMBER', my_blocks, peer) == 1 then return 0 end
if redis.call('SCARD', my_blocks) >= tonumber(most_blocks) then return -1 end
redis.call('SADD', my_blocks, peer)
redis.call('SADD', blocked_peer, me)
return 1
