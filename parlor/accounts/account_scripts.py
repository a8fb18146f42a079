"""The Lua behind parlor/accounts/accounts.py: each account change that must not race is one atomic script."""
from __future__ import annotations

from parlor.accounts.invites import INVITE_STATE_LUA

# Creates the user only if the name is free (no account, not reserved after one was deleted, no
# look-alike taken): two sign-ups of one name, or of two look-alikes, race and exactly one wins.
# With an invite (KEYS[4], and KEYS[5] the list of who used it), only if the invite can be used
# now, and using it once: two sign-ups cannot both take its last use. KEYS: user, reserved,
# look-alike[, invite, its users]. ARGV: the name, now (ms), then the account's fields. Returns
# 1 (made), 0 (the name is taken) or why the invite cannot be used (INVITE_STATE_LUA).
CREATE_USER_LUA = INVITE_STATE_LUA + """
if KEYS[4] then
  local state = invite_state(KEYS[4], ARGV[2])
  if state ~= 'open' then return state end
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
local owner = redis.call('GET', KEYS[3])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if KEYS[4] then
  redis.call('HINCRBY', KEYS[4], 'used', 1)
  redis.call('RPUSH', KEYS[5], ARGV[1])
  redis.call('PEXPIRE', KEYS[5], redis.call('PTTL', KEYS[4]))
end
return 1
"""

# A new password hash, for an account that still exists; it ends the API token (whoever had the
# old password may have made it), and every process hears so. KEYS: user. ARGV: the hash, the
# user, the sign-out channel.
SET_PASSWORD_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
local token = redis.call('HGET', KEYS[1], 'api_token_key')
if token then
  redis.call('DEL', token)
  redis.call('HDEL', KEYS[1], 'api_token_key')
  redis.call('PUBLISH', ARGV[3], ARGV[2] .. '\\n' .. token)
end
return 1
"""

# Replace the user's API token (a new token's key given) or revoke it (none given); the old one's
# live connections end on every process. KEYS: user, maybe the new token's key. ARGV: user, the
# sign-out channel. Returns the old token's key ('' if none), or 0 if there is no such user.
SET_TOKEN_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'api_token_key')
if old then
  redis.call('DEL', old)
  redis.call('PUBLISH', ARGV[2], ARGV[1] .. '\\n' .. old)
end
if KEYS[2] then
  redis.call('HSET', KEYS[1], 'api_token_key', KEYS[2])
  redis.call('SET', KEYS[2], ARGV[1])
else
  redis.call('HDEL', KEYS[1], 'api_token_key')
end
return old or ''
"""

# Deletes an account: its hash and API token go, its name (and its look-alikes) stay reserved.
# KEYS: user, reserved, look-alike. ARGV: reserved for (s), the name. Returns 0 if there was no
# such account.
REMOVE_USER_LUA = """
local token = redis.call('HGET', KEYS[1], 'api_token_key')
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if token then redis.call('DEL', token) end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
return 1
"""

# Index the look-alike key of an account that has none (a no-op for the others).
# KEYS: look-alike, user, reserved. ARGV: the name.
INDEX_LOOK_ALIKE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SET', KEYS[1], ARGV[1]) return 1 end
local ttl = redis.call('TTL', KEYS[3])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl) return 1 end
return 0
"""

# One login attempt, counted before the password is checked, so that attempts sent all at once
# are limited too: the window starts at the first attempt; passing the limit locks for longer.
# (EXPIRE ... NX would do the first part, but it is Redis 7 and we stay within 6.2.)
COUNT_ATTEMPT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then
  if n == tonumber(ARGV[2]) + 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
  return -redis.call('TTL', KEYS[1])
end
return n
"""
