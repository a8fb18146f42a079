-- Append events to per-user streams, set sorted-set entries along with them, and notify the
-- other processes that hold each user's connections (one notice per process, whatever the
-- number of events for it). Several publications go in one call; a publication with a guard
-- whose number is not above what its guard key holds was published already and is skipped whole.
--
-- KEYS, per publication: its guard key (if it has one); per event the user's stream, stream meta
--   and presence; per entry its sorted set.
-- ARGV: max events per stream, max age (ms), meta ttl (s), notice channel prefix, the calling
--   process ('' for none: every holder is notified), now (unix ms), publication count; then per
--   publication: guard number ('' for none), event count, entry count; per event: user, kind,
--   html, data (JSON); per entry: score, member.
-- Returns per publication {id, prev, id, prev, ...} (prev: the stream's id before this event,
-- '0-0' if none), or {} when its guard skipped it.
local max_events, max_age_ms, meta_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local channel_prefix, this_process, now_ms = ARGV[4], ARGV[5], ARGV[6]
local publication_count = tonumber(ARGV[7])

-- Drop what is older than max_age_ms or beyond max_events; remember the newest id dropped.
local function trim(stream, meta, id)
  local ms = tonumber(string.match(id, '^(%d+)'))
  local over = redis.call('XLEN', stream) - max_events
  local gone = redis.call('XRANGE', stream, '-', string.format('%d', ms - max_age_ms), 'COUNT', max_events)
  if #gone < over then gone = redis.call('XRANGE', stream, '-', '+', 'COUNT', over) end
  if #gone > 0 then
    redis.call('XTRIM', stream, 'MAXLEN', redis.call('XLEN', stream) - #gone)
    redis.call('HSET', meta, 'trimmed', gone[#gone][1])
  end
end

local notices = {}  -- process -> the events it must deliver
local results = {}
local k, a = 1, 8  -- the next KEYS and ARGV to read
for p = 1, publication_count do
  local guard, event_count, entry_count = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local skip = false
  if guard ~= '' then
    local guard_key = KEYS[k]
    k = k + 1
    skip = tonumber(redis.call('GET', guard_key) or '0') >= tonumber(guard)
    if not skip then redis.call('SET', guard_key, guard) end
  end
  local appended = {}
  if skip then
    k = k + 3 * event_count + entry_count
    a = a + 4 * event_count + 2 * entry_count
  else
    for _ = 1, event_count do
      local stream, meta, presence = KEYS[k], KEYS[k + 1], KEYS[k + 2]
      local user, kind, html, data = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
      k, a = k + 3, a + 4
      local prev = redis.call('HGET', meta, 'last')
      if prev and redis.call('EXISTS', stream) == 0 then  -- expired: everything it held is gone
        redis.call('HSET', meta, 'trimmed', prev)
      end
      local id = redis.call('XADD', stream, '*', 'k', kind, 'h', html, 'd', data)
      trim(stream, meta, id)
      redis.call('HSET', meta, 'last', id)
      redis.call('PEXPIRE', stream, max_age_ms)
      redis.call('EXPIRE', meta, meta_ttl)
      prev = prev or '0-0'
      appended[#appended + 1] = id
      appended[#appended + 1] = prev
      for _, process in ipairs(redis.call('ZRANGEBYSCORE', presence, now_ms, '+inf')) do
        if process ~= this_process then
          local events = notices[process] or {}
          events[#events + 1] = {id, prev, user, kind, html, data}
          notices[process] = events
        end
      end
    end
    for _ = 1, entry_count do
      redis.call('ZADD', KEYS[k], ARGV[a], ARGV[a + 1])
      k, a = k + 1, a + 2
    end
  end
  results[p] = appended
end
for process, events in pairs(notices) do
  redis.call('PUBLISH', channel_prefix .. process, cjson.encode(events))
end
return results
