-- READ (see scripts.rs): KEYS entry, index, sizes, bytes; ARGV hex, now (ms), touch (0/1), offset, limit (-1: to the end).
if redis.call('EXISTS', KEYS[1]) == 0 then
  local booked = redis.call('HGET', KEYS[3], ARGV[1])
  if booked then
    redis.call('HDEL', KEYS[3], ARGV[1])
    redis.call('DECRBY', KEYS[4], booked)
  end
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local size = redis.call('STRLEN', KEYS[1])
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
local last = tonumber(score or ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  if not score and redis.call('HSETNX', KEYS[3], ARGV[1], size) == 1 then
    redis.call('INCRBY', KEYS[4], size)
  end
end
local off = tonumber(ARGV[4])
local len = size - off
local lim = tonumber(ARGV[5])
if lim >= 0 and lim < len then len = lim end
local chunk = ''
if len > 0 then chunk = redis.call('GETRANGE', KEYS[1], off, off + len - 1) end
return {size, chunk, last}
