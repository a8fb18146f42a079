-- A report that names a deleted account names its ghost instead: its key takes the id of the
-- report as it now reads (the same report by a newcomer with that name is another report), and
-- an open report keeps its place in the open list. Returns 1, or 0 if it is gone meanwhile.
local old, new, open_reports = KEYS[1], KEYS[2], KEYS[3]  -- report:<old id>, report:<new id>, reports
local old_id, new_id, reporter, reported, copy = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

if redis.call('EXISTS', old) == 0 then return 0 end
redis.call('RENAME', old, new)
redis.call('HSET', new, 'reporter', reporter, 'reported', reported, 'copy', copy)
local made = redis.call('ZSCORE', open_reports, old_id)
if made then
  redis.call('ZREM', open_reports, old_id)
  redis.call('ZADD', open_reports, made, new_id)
end
return 1
