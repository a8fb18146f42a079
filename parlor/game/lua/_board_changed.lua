-- The board changed: a new version (the ETag and the fragment cache's key), when, and a notice to
-- every process (pub/sub). Returns the new version. Every script that changes a board ends with it.
local function board_changed(meta, now_ms, channel, board)
  local version = redis.call('HINCRBY', meta, 'version', 1)
  redis.call('HSET', meta, 'updated_ms', now_ms)
  redis.call('PUBLISH', channel, board)
  return version
end
