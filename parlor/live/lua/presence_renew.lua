-- Renew this process's claims on its users. Counts are join's and leave's alone; a user this
-- puts back online (their claim had lapsed during a stall) is announced. Returns the users whose
-- claim by this process had lapsed (no event notices were sent to it for them meanwhile).
-- KEYS: online, then presence:<user> and conns:<user> of each user.
-- ARGV: the 5 below, then each user.
--- @include "_claim.lua"
local online = KEYS[1]
local process, lapse_ms, ttl_s, now_ms, channel = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local lapsed = {}
for i = 6, #ARGV do
  local user = ARGV[i]
  local k = 2 * (i - 6) + 2
  local presence, conns = KEYS[k], KEYS[k + 1]
  local held = redis.call('ZSCORE', presence, process)  -- this process's claim, when it lapses
  if (not held) or tonumber(held) < tonumber(now_ms) then lapsed[#lapsed + 1] = user end
  claim(presence, conns, online, user, process, lapse_ms, ttl_s, now_ms, channel)
end
return lapsed
