//! The Lua scripts that make multi-key changes atomic on the server.
//!
//! Every script names all the keys it touches in `KEYS` (they share the
//! stash's hash tag, so they live in one cluster slot). Times are passed in as
//! decimal strings and written back with `string.format('%.0f', ...)`: Lua
//! numbers are doubles, exact for microsecond timestamps, but Redis would
//! print them with 14 significant digits.

use std::sync::LazyLock;

use redis::Script;

/// `KEYS`: entry, all, exp. `ARGV`: digest, key, value, stamp, expires ('' = never),
/// append ('1'/'0'), now, write id.
///
/// Returns 1 when written, 0 when this write id was already applied (a retry
/// after a lost reply), -1 when another key occupies the slot.
pub(crate) static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local e = KEYS[1]
local old = redis.call('HMGET', e, 'k', 'x', 't', 'n', 'w')
if old[1] then
  if old[1] ~= ARGV[2] then return -1 end
  if old[5] == ARGV[8] then return 0 end
end
local t = tonumber(ARGV[4])
local live = old[1] and ((not old[2]) or tonumber(old[2]) > tonumber(ARGV[7]))
if ARGV[6] == '1' and live then
  local prev = tonumber(old[3])
  if t <= prev then t = prev + 1 end
  local n = tonumber(old[4]) + 1
  local cur = redis.call('HGET', e, 'v')
  redis.call('HSET', e, 'o' .. n, cur, 's' .. n, old[3], 'n', n, 'v', ARGV[3],
    't', string.format('%.0f', t), 'w', ARGV[8])
  redis.call('HINCRBY', e, 'b', #ARGV[3])
else
  if old[1] then redis.call('DEL', e) end
  redis.call('HSET', e, 'k', ARGV[2], 'v', ARGV[3], 't', string.format('%.0f', t), 'n', 0,
    'b', #ARGV[3], 'w', ARGV[8])
end
if ARGV[5] == '' then
  redis.call('HDEL', e, 'x')
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('HSET', e, 'x', ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
",
    )
});

/// `KEYS`: entry, all, exp. `ARGV`: digest, key, value, stamp, expires ('' = never),
/// now, write id.
///
/// Writes the entry (as `PUT` replacing it) only if no live entry holds the
/// slot: an expired one is absent and replaced. Returns 1 when written (or
/// when this write id already was: a retry after a lost reply), 0 when a live
/// entry holds the key, -1 when another key occupies the slot.
pub(crate) static PUT_IF_ABSENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local e = KEYS[1]
local old = redis.call('HMGET', e, 'k', 'x', 'w')
if old[1] then
  if old[1] ~= ARGV[2] then return -1 end
  if old[3] == ARGV[7] then return 1 end
  if (not old[2]) or tonumber(old[2]) > tonumber(ARGV[6]) then return 0 end
  redis.call('DEL', e)
end
redis.call('HSET', e, 'k', ARGV[2], 'v', ARGV[3], 't', ARGV[4], 'n', 0, 'b', #ARGV[3], 'w', ARGV[7])
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('HSET', e, 'x', ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
",
    )
});

/// `KEYS`: entry, all, exp. `ARGV`: digest, key, now.
///
/// Returns 1 when a live entry was removed, 0 when there was none (or it had
/// expired: it is removed all the same), -1 when another key occupies the slot.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HMGET', KEYS[1], 'k', 'x')
if old[1] and old[1] ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not old[1] then return 0 end
if old[2] and tonumber(old[2]) <= tonumber(ARGV[3]) then return 0 end
return 1
",
    )
});

/// `KEYS`: all, exp. `ARGV`: now. The number of live entries.
pub(crate) static LEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
return redis.call('ZCARD', KEYS[1]) - redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[1])
",
    )
});

/// `KEYS`: all, exp, entry... `ARGV`: the digests of those entries.
/// Removes one page of entries with their index members.
pub(crate) static CLEAR_PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
if #ARGV > 0 then
  redis.call('ZREM', KEYS[1], unpack(ARGV))
  redis.call('ZREM', KEYS[2], unpack(ARGV))
end
return #ARGV
",
    )
});

/// `KEYS`: entry, all, exp. `ARGV`: digest, key, seen (µs).
///
/// Removes the entry unless its newest write (`t`) is later than `seen`: the
/// delete of eviction and `prune`, in one step, so a write that lands after
/// their scan is never removed by it. Returns 1 when removed (expired or
/// not), 0 when absent or written again, -1 when another key occupies the slot.
pub(crate) static DELETE_UNLESS_REWRITTEN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HMGET', KEYS[1], 'k', 't')
if not old[1] then return 0 end
if old[1] ~= ARGV[2] then return -1 end
local t = tonumber(old[2])
if t and t > tonumber(ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
",
    )
});

/// `KEYS`: lock. `ARGV`: token, lease (ms).
///
/// `SET lock token NX PX lease`; also 1 when the lock already holds this
/// token (a retry after a lost reply). Returns 1 when taken, 0 when another
/// token holds it.
pub(crate) static LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
",
    )
});

/// `KEYS`: lock. `ARGV`: token. Deletes the lock only if it still holds
/// this token: a holder whose lease ran out (and was taken over) never
/// releases the new holder's lock. Returns 1 when released.
pub(crate) static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Every script, loaded together when the server reports one missing.
pub(crate) fn all() -> [&'static Script; 8] {
    [&PUT, &PUT_IF_ABSENT, &DELETE, &LEN, &CLEAR_PAGE, &DELETE_UNLESS_REWRITTEN, &LOCK, &UNLOCK]
}
