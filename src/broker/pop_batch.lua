-- The batch pop (RedisTransport::FetchBatch): pops up to ARGV[1] messages across the queue
-- keys in kombu's order and records each in unacked/unacked_index in the same atomic step.
-- KEYS: unacked_index, unacked, then the queue keys in BRPOP's order.
-- ARGV: how many at most, the unacked_index score (now), then each key's queue name.
-- Returns {key index, payload, recorded tag, ...}; the tag is "" for a payload whose tag
-- cannot be read here (not JSON, no delivery_tag): returned unrecorded, the worker decides.
-- The entry is kombu's [message, exchange, routing_key] with the payload text kept verbatim.
local out = {}
local want = tonumber(ARGV[1])
local n = 0
for i = 3, #KEYS do
  while n < want do
    local payload = redis.call('RPOP', KEYS[i])
    if not payload then break end
    n = n + 1
    local ok, msg = pcall(cjson.decode, payload)
    local recorded = ''
    if ok and type(msg) == 'table' and type(msg['properties']) == 'table' then
      local props = msg['properties']
      local tag = props['delivery_tag']
      if type(tag) == 'string' and tag ~= '' then
        local ex, rk = '', ''
        local di = props['delivery_info']
        if type(di) == 'table' then
          if type(di['exchange']) == 'string' then ex = di['exchange'] end
          if type(di['routing_key']) == 'string' then rk = di['routing_key'] end
        end
        if rk == '' then rk = ARGV[i] end
        redis.call('ZADD', KEYS[1], ARGV[2], tag)
        redis.call('HSET', KEYS[2], tag,
                   '[' .. payload .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
        recorded = tag
      end
    end
    out[#out + 1] = i - 2
    out[#out + 1] = payload
    out[#out + 1] = recorded
  end
  if n >= want then break end
end
return out
