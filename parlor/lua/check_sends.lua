-- Several sends checked in order, each as if alone: refused if either account is gone (or being
-- deleted: its user key goes first), if either person is suspended or blocked the other, or over
-- the sender's limits on messages, new conversations and pictures; otherwise every bucket it
-- needs is charged. Returns per send {code, ms to wait}: see SEND_LIMITS in parlor/safety.py.
-- KEYS, 9 per send: blocks:<peer>, blocks:<me>, conversations:<me>, the buckets of messages,
--   conversations and images of <me>, the suspended accounts, user:<me>, user:<peer>.
-- ARGV: the 6 below, then 5 per send: me, peer, has a picture (1/0), is a message (1/0: 0 for a
--   conversation made without one, which the message limit does not count), the accounts that
--   must exist (2: both, 1: mine, the peer is ELIZA; 0: none asked).
--- @include "_gcra.lua"
local message_count, message_ms, conversation_count, conversation_ms, image_count, image_ms =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local function suspended(accounts, who)
  local ends = redis.call('ZSCORE', accounts, who)
  return ends and tonumber(ends) > now
end
local function check(peer_blocks, my_blocks, my_conversations, message_bucket, conversation_bucket,
                     image_bucket, suspended_accounts, my_account, peer_account, me, peer, picture, is_message,
                     accounts)
  if accounts ~= '0' and redis.call('EXISTS', my_account) == 0 then return {1, 0} end
  if accounts == '2' and redis.call('EXISTS', peer_account) == 0 then return {1, 0} end
  if suspended(suspended_accounts, me) then return {7, 0} end
  if suspended(suspended_accounts, peer) then return {6, 0} end
  if redis.call('SISMEMBER', peer_blocks, me) == 1 then return {1, 0} end
  if redis.call('SISMEMBER', my_blocks, peer) == 1 then return {2, 0} end
  local messages, wait = nil, 0
  if is_message == '1' then
    messages, wait = bucket(message_bucket, message_count, message_ms)
    if messages == false then return {3, wait} end
  end
  local conversations = nil
  if tonumber(conversation_count) > 0 and not redis.call('ZSCORE', my_conversations, peer) then
    conversations, wait = bucket(conversation_bucket, conversation_count, conversation_ms)
    if conversations == false then return {4, wait} end
  end
  local images = nil
  if picture == '1' then
    images, wait = bucket(image_bucket, image_count, image_ms)
    if images == false then return {5, wait} end
  end
  charge(message_bucket, messages)
  charge(conversation_bucket, conversations)
  charge(image_bucket, images)
  return {0, 0}
end

local verdicts = {}
for n = 0, #KEYS / 9 - 1 do
  local k, a = 9 * n, 6 + 5 * n
  verdicts[n + 1] = check(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6],
                          KEYS[k + 7], KEYS[k + 8], KEYS[k + 9], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4],
                          ARGV[a + 5])
end
return verdicts
