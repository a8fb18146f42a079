-- Which of the given keys no longer exist (a session or API token that ended).
-- KEYS: the keys to ask about (any number). ARGV: none.
-- Returns the positions (from 1) of the keys that are gone.
local asked = KEYS
local gone = {}
for position, key in ipairs(asked) do
  if redis.call('EXISTS', key) == 0 then gone[#gone + 1] = position end
end
return gone
