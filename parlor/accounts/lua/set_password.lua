-- A new password hash, for an account that still exists; it ends the API token (whoever had the
-- old password may have made it), and every process hears so. `notice` is what the owner is told
-- at their next login (an admin's link set it: JSON), or '' when the owner set it themself,
-- which clears an earlier one. Returns 1, or 0 if there is no such user.
local user_key = KEYS[1]
local password_hash, user, sign_out_channel, notice = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

if redis.call('EXISTS', user_key) == 0 then return 0 end
redis.call('HSET', user_key, 'password_hash', password_hash)
if notice == '' then
  redis.call('HDEL', user_key, 'reset_notice')
else
  redis.call('HSET', user_key, 'reset_notice', notice)
end
local token = redis.call('HGET', user_key, 'api_token_key')
if token then
  redis.call('DEL', token)
  redis.call('HDEL', user_key, 'api_token_key')
  redis.call('PUBLISH', sign_out_channel, user .. '\n' .. token)
end
return 1
