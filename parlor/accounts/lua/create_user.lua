-- Creates the user only if the name is free (no account, not reserved after one was deleted, no
-- look-alike taken): two sign-ups of one name, or of two look-alikes, race and exactly one wins.
-- With an invite, only if the invite can be used now, and using it once: two sign-ups cannot
-- both take its last use. Returns 1 (made), 0 (the name is taken) or why the invite cannot be
-- used (invite_state).
--- @include "_invite_state.lua"
-- by_age and by_name list every account (parlor/accounts/usernames.py); invite and invite_users
-- (who used it) are nil for a sign-up without an invite. ARGV after now_ms: the account's fields,
-- each name then its value.
local user, reserved, look_alike, by_age, by_name = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local invite, invite_users = KEYS[6], KEYS[7]
local name, now_ms = ARGV[1], ARGV[2]

if invite then
  local state = invite_state(invite, now_ms)
  if state ~= 'open' then return state end
end
if redis.call('EXISTS', user, reserved) > 0 then return 0 end
local owner = redis.call('GET', look_alike)
if owner and owner ~= name then return 0 end
redis.call('SET', look_alike, name)
redis.call('HSET', user, unpack(ARGV, 3))
redis.call('ZADD', by_age, now_ms, name)
redis.call('ZADD', by_name, 0, name)
if invite then
  redis.call('HINCRBY', invite, 'used', 1)
  redis.call('RPUSH', invite_users, name)
  redis.call('PEXPIRE', invite_users, redis.call('PTTL', invite))
end
return 1
