-- Append events to per-user streams, set sorted-set entries and counts along with them, and
-- notify the other processes that hold each user's connections (one notice per process, whatever
-- the number of events for it). Several publications go in one call; a publication with a guard
-- whose number is not above what its guard key holds was published already and is skipped whole.
-- A count is a hash field set to a number (0 deletes the field). An event with a tally carries its
-- user's total of a counted hash (its fields summed once the publication's counts are set, but
-- those fields that a sorted set of exclusions holds with a score above now) in its html, written
-- wherever the html holds the tally mark.
--
-- KEYS, per publication: its guard key (if it has one); per event the user's stream, stream meta,
--   presence, and tally hash and exclusions (if it has a tally); per entry its sorted set; per
--   count its hash.
-- ARGV: max events per stream, max age (ms), meta ttl (s), notice channel prefix, the calling
--   process ('' for none: every holder is notified), now (unix ms), the tally mark, publication
--   count; then per publication: guard number ('' for none), event count, entry count, count
--   count; per event: user, kind, html, data (JSON), tallied ('1' or ''); per entry: score,
--   member; per count: field, number.
-- Returns per publication {id, prev, html, id, prev, html, ...} (prev: the stream's id before
-- this event, '0-0' if none; html: the html as appended, '' when it had no tally), or {} when its
-- guard skipped it.
local max_events, max_age_ms, meta_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local channel_prefix, this_process, now_ms, tally_mark = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local publication_count = tonumber(ARGV[8])

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

-- html with every tally mark replaced by the sum of the hash's fields, but the excluded ones
local function tallied(html, hash, exclusions)
  local total = 0
  local fields = redis.call('HGETALL', hash)
  for i = 1, #fields, 2 do
    local until_ms = redis.call('ZSCORE', exclusions, fields[i])
    if not until_ms or tonumber(until_ms) <= tonumber(now_ms) then total = total + tonumber(fields[i + 1]) end
  end
  local parts, from = {}, 1
  while true do
    local first, last = string.find(html, tally_mark, from, true)
    if not first then break end
    parts[#parts + 1] = string.sub(html, from, first - 1)
    parts[#parts + 1] = tostring(total)
    from = last + 1
  end
  parts[#parts + 1] = string.sub(html, from)
  return table.concat(parts)
end

local notices = {}  -- process -> the events it must deliver
local results = {}
local k, a = 1, 9  -- the next KEYS and ARGV to read
for p = 1, publication_count do
  local guard, event_count = ARGV[a], tonumber(ARGV[a + 1])
  local entry_count, count_count = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  a = a + 4
  local skip = false
  if guard ~= '' then
    local guard_key = KEYS[k]
    k = k + 1
    skip = tonumber(redis.call('GET', guard_key) or '0') >= tonumber(guard)
    if not skip then redis.call('SET', guard_key, guard) end
  end
  -- where this publication's events, entries and counts start, and where the next one does
  local events_k, events_a = k, a
  local entries_k, entries_a = k, a
  for _ = 1, event_count do  -- an event's two tally keys follow its three keys
    entries_k = entries_k + (ARGV[entries_a + 4] == '1' and 5 or 3)
    entries_a = entries_a + 5
  end
  local counts_k, counts_a = entries_k + entry_count, entries_a + 2 * entry_count
  local after_k, after_a = counts_k + count_count, counts_a + 2 * count_count
  local appended = {}
  if not skip then
    for c = 0, count_count - 1 do
      local hash, field, number = KEYS[counts_k + c], ARGV[counts_a + 2 * c], ARGV[counts_a + 2 * c + 1]
      if tonumber(number) > 0 then redis.call('HSET', hash, field, number) else redis.call('HDEL', hash, field) end
    end
    k, a = events_k, events_a
    for _ = 1, event_count do
      local stream, meta, presence = KEYS[k], KEYS[k + 1], KEYS[k + 2]
      local user, kind, html, data, tally = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
      k, a = k + 3, a + 5
      local filled = ''
      if tally == '1' then
        html = tallied(html, KEYS[k], KEYS[k + 1])
        filled = html
        k = k + 2
      end
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
      appended[#appended + 1] = filled
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
  k, a = after_k, after_a
  results[p] = appended
end
for process, events in pairs(notices) do
  redis.call('PUBLISH', channel_prefix .. process, cjson.encode(events))
end
return results
