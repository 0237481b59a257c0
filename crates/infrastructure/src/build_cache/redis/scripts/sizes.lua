-- SIZES (see scripts.rs): KEYS entry 1..n; returns each size, -1 when absent.
local out = {}
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    out[i] = redis.call('STRLEN', KEYS[i])
  else
    out[i] = -1
  end
end
return out
