-- PUT (see scripts.rs): KEYS entry, index, sizes, bytes; ARGV value, hex, now (ms), replace (0/1).
if ARGV[4] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  return 0
end
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
local size = string.len(ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], size)
redis.call('INCRBY', KEYS[4], size - old)
return 1
