-- End one session, take it out of its user's index, and publish its sign-out (even if it had
-- expired already: a notice too many costs nothing).
local session = KEYS[1]
local index_prefix, session_id, sign_out_channel = ARGV[1], ARGV[2], ARGV[3]

local user = redis.call('HGET', session, 'user')
redis.call('DEL', session)
if user then redis.call('SREM', index_prefix .. user, session_id) end
redis.call('PUBLISH', sign_out_channel, (user or '') .. '\n' .. session)
return 0
