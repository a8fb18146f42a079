-- One login attempt, counted before the password is checked, so that attempts sent all at once
-- are limited too: the window starts at the first attempt; passing the limit locks for longer.
-- (EXPIRE ... NX would do the first part, but it is Redis 7 and we stay within 6.2.) Returns the
-- attempt's number, or minus the seconds the lock lasts.
local attempts = KEYS[1]
local window_s, most, lock_s = ARGV[1], ARGV[2], ARGV[3]

local n = redis.call('INCR', attempts)
if n == 1 then redis.call('EXPIRE', attempts, window_s) end
if n > tonumber(most) then
  if n == tonumber(most) + 1 then redis.call('EXPIRE', attempts, lock_s) end
  return -redis.call('TTL', attempts)
end
return n
