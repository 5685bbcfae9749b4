-- Celery's RedisBackend.set in one step (RedisBackend::Store): keep SUCCESS sticky, then
-- SETEX and PUBLISH the record.
-- KEYS[1] = result key; ARGV[1] = record; ARGV[2] = expiry seconds (0 = none).
-- A stored record is SUCCESS when its "status" field says so. cjson reads standard JSON; a
-- record it cannot read (Python may have written NaN) is checked by text, as Celery writes
-- "status" first.
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' then
    if doc['status'] == 'SUCCESS' then return 0 end
  elseif string.find(current, '"status": "SUCCESS"', 1, true) then
    return 0
  end
end
local ttl = tonumber(ARGV[2])
if ttl and ttl > 0 then
  redis.call('SETEX', KEYS[1], ttl, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
