-- Replace the user's API token (a new token's key given) or revoke it (none given); the old one's
-- live connections end on every process. Returns the old token's key ('' if none), or 0 if there
-- is no such user.
local user_key, new_token = KEYS[1], KEYS[2]  -- new_token: nil to revoke
local user, sign_out_channel = ARGV[1], ARGV[2]

if redis.call('EXISTS', user_key) == 0 then return 0 end
local old = redis.call('HGET', user_key, 'api_token_key')
if old then
  redis.call('DEL', old)
  redis.call('PUBLISH', sign_out_channel, user .. '\n' .. old)
end
if new_token then
  redis.call('HSET', user_key, 'api_token_key', new_token)
  redis.call('SET', new_token, user)
else
  redis.call('HDEL', user_key, 'api_token_key')
end
return old or ''
