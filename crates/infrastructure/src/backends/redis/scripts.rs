//! The Lua scripts the Redis stores run (`EVALSHA`, loaded on first use),
//! each atomic on one slot: writing an entry with its tag sets, and
//! detaching a tag set for invalidation.

use std::sync::LazyLock;

/// Writes an entry and records it in its tag sets, atomically.
///
/// KEYS[1] = entry key, KEYS[2..] = tag set keys.
/// ARGV[1] = envelope, ARGV[2] = TTL in ms (0 = none), ARGV[3] = user key.
/// A tag set lives as long as its longest-lived member: it is created
/// with the entry's TTL, extended when a longer-lived member joins, and
/// made persistent when a member without TTL joins. Returns 1 when the
/// key held a value before.
pub(super) static INSERT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local ttl = tonumber(ARGV[2])
local existed = redis.call('EXISTS', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
for i = 2, #KEYS do
  local fresh = redis.call('EXISTS', KEYS[i]) == 0
  redis.call('SADD', KEYS[i], ARGV[3])
  if ttl > 0 then
    local cur = redis.call('PTTL', KEYS[i])
    if fresh or (cur >= 0 and cur < ttl) then
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  elseif not fresh then
    redis.call('PERSIST', KEYS[i])
  end
end
return existed
",
    )
});

/// Renames a tag set away so that writes during the invalidation start a
/// fresh set. KEYS[1] = tag set, KEYS[2] = new name; ARGV[1] = its TTL in
/// ms. Returns 1 when the set existed.
pub(super) static DETACH_TAG_SET: LazyLock<redis::Script> = LazyLock::new(|| {
    // Never resent after a dropped connection: a second run finds the set
    // renamed already and answers 0.
    super::connection::once_only(redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
  return 1
end
return 0
",
    ))
});
