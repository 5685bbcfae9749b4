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

-- Each key's share is taken with one LRANGE and one LTRIM (RPOP with a count needs Redis 6.2),
-- oldest first as RPOP would; the batch is recorded with one ZADD and one HSET per chunk: a
-- redis.call costs more than the command it runs, so fewer calls is most of this script's cost.
local CHUNK = 500  -- messages per ZADD/HSET call (unpack's stack stays small)
local out = {}
local want = tonumber(ARGV[1])
local score = ARGV[2]
local n = 0
local zadd, hset = {}, {}
local encoded = {}  -- cjson.encode of each exchange / routing key seen, once per batch
local function json_string(s)
  local e = encoded[s]
  if not e then
    e = cjson.encode(s)
    encoded[s] = e
  end
  return e
end
local function record()
  if #zadd > 0 then
    redis.call('ZADD', KEYS[1], unpack(zadd))
    redis.call('HSET', KEYS[2], unpack(hset))
    zadd, hset = {}, {}
  end
end
for i = 3, #KEYS do
  if n >= want then break end
  local popped = redis.call('LRANGE', KEYS[i], -(want - n), -1)
  if #popped > 0 then
    redis.call('LTRIM', KEYS[i], 0, -(#popped + 1))
    for j = #popped, 1, -1 do  -- the list's tail is the oldest
      local payload = popped[j]
      n = n + 1
      local tag, ex, rk = quick(payload)
      if not tag then tag, ex, rk = decoded(payload) end
      local recorded = ''
      if tag and tag ~= '' then
        if rk == '' then rk = ARGV[i] end
        zadd[#zadd + 1] = score
        zadd[#zadd + 1] = tag
        hset[#hset + 1] = tag
        hset[#hset + 1] = '[' .. payload .. ', ' .. json_string(ex) .. ', ' .. json_string(rk) .. ']'
        recorded = tag
        if #zadd >= 2 * CHUNK then record() end
      end
      out[#out + 1] = i - 2
      out[#out + 1] = payload
      out[#out + 1] = recorded
    end
  end
end
record()
return out
