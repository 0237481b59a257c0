-- FLUSH (see scripts.rs): KEYS index, sizes, bytes, entry 1..n; ARGV latest last access removed ('' for any), dry run (0/1), hex 1..n.
local max = tonumber(ARGV[1])
local dry = ARGV[2] == '1'
local entries, bytes = 0, 0
for i = 4, #KEYS do
  local hex = ARGV[i - 1]
  local score = redis.call('ZSCORE', KEYS[1], hex)
  local exists = redis.call('EXISTS', KEYS[i]) == 1
  local doomed = score or exists
  if max and (not score or tonumber(score) > max) then doomed = false end
  if doomed then
    local size = redis.call('STRLEN', KEYS[i])
    if dry then
      if exists then
        entries = entries + 1
        bytes = bytes + size
      end
    else
      local booked = redis.call('HGET', KEYS[2], hex)
      if booked then
        redis.call('HDEL', KEYS[2], hex)
        redis.call('DECRBY', KEYS[3], booked)
      end
      redis.call('ZREM', KEYS[1], hex)
      if redis.call('DEL', KEYS[i]) == 1 then
        entries = entries + 1
        bytes = bytes + size
      end
    end
  end
end
return {entries, bytes}
