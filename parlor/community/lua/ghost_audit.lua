-- The audit entries that name a deleted account (as who acted, or as what it was done to: the
-- name alone, or its board entry) name its ghost instead. Entries are JSON as Python writes them
-- ("field": "value"); a username needs no escaping. Returns how many entries changed.
local log = KEYS[1]
local user, ghost = ARGV[1], ARGV[2]

local function renamed(row, field, after)
  local needle = '"' .. field .. '": "' .. user .. after
  local at = string.find(row, needle, 1, true)
  if not at then return row end
  return string.sub(row, 1, at - 1) .. '"' .. field .. '": "' .. ghost .. after .. string.sub(row, at + #needle)
end

local changed = 0
for i, row in ipairs(redis.call('LRANGE', log, 0, -1)) do
  local new = renamed(renamed(renamed(row, 'admin', '"'), 'target', '"'), 'target', ' on the ')
  if new ~= row then
    redis.call('LSET', log, i - 1, new)
    changed = changed + 1
  end
end
return changed
