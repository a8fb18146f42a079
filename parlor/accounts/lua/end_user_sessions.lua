-- End every session of a user but one, and publish their sign-out. Returns the ids ended.
local index = KEYS[1]  -- user-sessions:<user>
local session_prefix, keep, user, sign_out_channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4]  -- keep: '' for none

local ended, keys = {}, {}
for _, id in ipairs(redis.call('SMEMBERS', index)) do
  if id ~= keep then
    redis.call('DEL', session_prefix .. id)
    redis.call('SREM', index, id)
    ended[#ended + 1] = id
    keys[#keys + 1] = session_prefix .. id
  end
end
if #keys > 0 then redis.call('PUBLISH', sign_out_channel, user .. '\n' .. table.concat(keys, ',')) end
return ended
