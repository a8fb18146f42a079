-- Index a signed-in session under its user, dropping ids whose session has expired (so the set
-- stays as small as the sessions that are alive; their sign-out is published, as expiry found).
local index = KEYS[1]  -- user-sessions:<user>
local session_prefix, session_id, user, sign_out_channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local gone = {}
for _, id in ipairs(redis.call('SMEMBERS', index)) do
  if redis.call('EXISTS', session_prefix .. id) == 0 then
    redis.call('SREM', index, id)
    gone[#gone + 1] = session_prefix .. id
  end
end
redis.call('SADD', index, session_id)
if #gone > 0 then redis.call('PUBLISH', sign_out_channel, user .. '\n' .. table.concat(gone, ',')) end
return 0
