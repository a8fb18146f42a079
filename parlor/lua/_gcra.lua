-- Shared by every script that charges a bucket (a rate limit kept as one timestamp per key):
-- `now` from Redis's own clock (one clock for all processes), `bucket` answers whether one more
-- action fits, `charge` records it.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- The bucket's next theoretical arrival time if one more action fits (nil: no limit), else false
-- and the milliseconds until it would.
local function bucket(key, count, period_ms)
  count, period_ms = tonumber(count), tonumber(period_ms)
  if count <= 0 then return nil, 0 end
  local interval = math.ceil(period_ms / count)
  local tat = math.max(tonumber(redis.call('GET', key) or 0), now) + interval
  local wait = tat - interval * count - now
  if wait > 0 then return false, wait end
  return tat, 0
end
local function charge(key, tat)
  if tat then redis.call('SET', key, string.format('%d', tat), 'PX', string.format('%d', tat - now)) end
end
