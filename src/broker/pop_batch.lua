-- The batch pop (RedisTransport::FetchBatch): pops up to ARGV[1] messages across the queue
-- keys in kombu's order and records each in unacked/unacked_index in the same atomic step.
-- KEYS: unacked_index, unacked, then the queue keys in BRPOP's order.
-- ARGV: how many at most, the unacked_index score (now), then each key's queue name.
-- Returns {key index, payload, recorded tag, ...}; the tag is "" for a payload whose tag
-- cannot be read here (not JSON, no delivery_tag): returned unrecorded, the worker decides.
-- The entry is kombu's [message, exchange, routing_key] with the payload text kept verbatim.
-- kombu writes its envelope with Python's json.dumps: `"properties": {`, then inside it
-- `"delivery_info": {"exchange": "…", "routing_key": "…"}` and `"delivery_tag": "…"`. Those are
-- found by plain search (a quarter of the cost of decoding the whole payload); a quote inside
-- any string value is escaped, so a match cannot start inside one. Anything else (other
-- spacing, escapes in the values, a missing field) goes through cjson. The worker parses every
-- payload anyway and records it again should its tag differ.
local function after(payload, from, text)
  local s = string.find(payload, text, from, true)
  if s then return s + #text end
end
local function until_quote(payload, from)
  local e = string.find(payload, '"', from, true)
  if not e then return end
  local v = string.sub(payload, from, e - 1)
  if string.find(v, '\\', 1, true) then return end
  return v, e + 1
end
local function quick(payload)
  local props = after(payload, 1, '"properties": {')
  if not props then return end
  local at = after(payload, props, '"delivery_info": {"exchange": "')
  if not at then return end
  local ex, rest = until_quote(payload, at)
  if not ex or string.sub(payload, rest, rest + 17) ~= ', "routing_key": "' then return end
  local rk = until_quote(payload, rest + 18)
  if not rk then return end
  at = after(payload, props, '"delivery_tag": "')
  if not at then return end
  local tag = until_quote(payload, at)
  if tag then return tag, ex, rk end
end
local function decoded(payload)
  local ok, msg = pcall(cjson.decode, payload)
  if not (ok and type(msg) == 'table' and type(msg['properties']) == 'table') then return end
  local props = msg['properties']
  local tag = props['delivery_tag']
  if type(tag) ~= 'string' then return end
  local ex, rk = '', ''
  local di = props['delivery_info']
  if type(di) == 'table' then
    if type(di['exchange']) == 'string' then ex = di['exchange'] end
    if type(di['routing_key']) == 'string' then rk = di['routing_key'] end
  end
  return tag, ex, rk
end

local out = {}
local want = tonumber(ARGV[1])
local n = 0
for i = 3, #KEYS do
  while n < want do
    local payload = redis.call('RPOP', KEYS[i])
    if not payload then break end
    n = n + 1
    local tag, ex, rk = quick(payload)
    if not tag then tag, ex, rk = decoded(payload) end
    local recorded = ''
    if tag and tag ~= '' then
      if rk == '' then rk = ARGV[i] end
      redis.call('ZADD', KEYS[1], ARGV[2], tag)
      redis.call('HSET', KEYS[2], tag,
                 '[' .. payload .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
      recorded = tag
    end
    out[#out + 1] = i - 2
    out[#out + 1] = payload
    out[#out + 1] = recorded
  end
  if n >= want then break end
end
return out
