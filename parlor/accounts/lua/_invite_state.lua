-- The state of an invite (parlor/accounts/invites.py): 'unknown', 'revoked', 'expired', 'used up'
-- or 'open' (Invite.state says the same in Python).
local function invite_state(key, now)
  local invite = redis.call('HMGET', key, 'uses', 'used', 'expires_ms', 'revoked')
  if not invite[1] then return 'unknown' end
  if invite[4] == '1' then return 'revoked' end
  if tonumber(invite[3]) <= tonumber(now) then return 'expired' end
  if tonumber(invite[2]) >= tonumber(invite[1]) then return 'used up' end
  return 'open'
end
