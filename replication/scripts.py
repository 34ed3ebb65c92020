"""The Lua scripts every replica runs, and the names of the keys they keep for themselves.

A replica is a plain redis-server. What makes it a last-write-wins register store is that
every write goes through WRITE_IF_NEWER, which compares the incoming record's timestamp with
the stored one (and with the replica's newest flush) and applies the write only if it is
strictly newer. Redis runs a script atomically, so a repair or a late write can never
overwrite a newer write that landed meanwhile, and equal timestamps resolve the same way on
every replica (they never apply). The timestamp layout is that of `record.py`: bytes 2..11
of a record (Lua counts from 1) are `>I6I2I2`, physical ms, logical counter, node id.

Internal keys start with INTERNAL_PREFIX; clients may not use that prefix.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

INTERNAL_PREFIX = b"__leaderless:"
FLUSH_KEY = INTERNAL_PREFIX + b"flush"
TOMBSTONES_KEY = INTERNAL_PREFIX + b"tombstones"
INTERNAL_KEYS = (FLUSH_KEY, TOMBSTONES_KEY)

_NEWER = """
local function newer(a, b)
  local ap, al, an = struct.unpack('>I6I2I2', a)
  local bp, bl, bn = struct.unpack('>I6I2I2', b)
  if ap ~= bp then return ap > bp end
  if al ~= bl then return al > bl end
  return an > bn
end
"""


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script, called by SHA and sent whole only when a replica lost its script cache."""

    name: str
    source: bytes

    @property
    def sha(self) -> bytes:
        return hashlib.sha1(self.source).hexdigest().encode()


# KEYS[1] = the client key, ARGV[1] = the encoded record. Returns 1 if applied, 0 if not.
# Tombstones are indexed by time in TOMBSTONES_KEY so that PURGE_TOMBSTONES can drop them
# after the grace period and DBSIZE can leave them out.
WRITE_IF_NEWER = Script(
    "write_if_newer",
    (
        _NEWER
        + """
local key, rec = KEYS[1], ARGV[1]
local ts = string.sub(rec, 2, 11)
local flushed = redis.call('GET', '__leaderless:flush')
if flushed and not newer(ts, flushed) then return 0 end
local old = redis.call('GET', key)
if old and not newer(ts, string.sub(old, 2, 11)) then return 0 end
local expires = struct.unpack('>I6', string.sub(rec, 13, 18))
if expires > 0 then
  redis.call('SET', key, rec, 'PXAT', string.format('%.0f', expires))
else
  redis.call('SET', key, rec)
end
if string.byte(rec, 12) % 2 == 1 then
  redis.call('ZADD', '__leaderless:tombstones', struct.unpack('>I6', ts), key)
elseif old and string.byte(old, 12) % 2 == 1 then
  redis.call('ZREM', '__leaderless:tombstones', key)
end
return 1
"""
    ).encode(),
)

# ARGV[1] = the flush's 10-byte timestamp. Deletes every record not newer than the flush and
# remembers the flush, so that older writes and repairs are refused from then on.
# Returns 1 if applied, 0 if the replica already had this flush or a newer one.
FLUSH = Script(
    "flush",
    (
        _NEWER
        + """
local ts = ARGV[1]
local flushed = redis.call('GET', '__leaderless:flush')
if flushed and not newer(ts, flushed) then return 0 end
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if string.sub(key, 1, 13) ~= '__leaderless:' then
      local rec = redis.call('GET', key)
      if rec and not newer(string.sub(rec, 2, 11), ts) then
        redis.call('DEL', key)
        redis.call('ZREM', '__leaderless:tombstones', key)
      end
    end
  end
until cursor == '0'
redis.call('SET', '__leaderless:flush', ts)
return 1
"""
    ).encode(),
)

# The number of keys a client can see: all keys less tombstones and internal keys. Keys that
# expired but that Redis has not reclaimed yet count, exactly as Redis's own DBSIZE counts them.
DBSIZE = Script(
    "dbsize",
    b"""
return redis.call('DBSIZE') - redis.call('ZCARD', '__leaderless:tombstones')
  - redis.call('EXISTS', '__leaderless:flush', '__leaderless:tombstones')
""",
)

# ARGV[1] = cutoff physical ms, ARGV[2] = at most this many. Drops tombstones written at or
# before the cutoff (now - grace). Returns how many were dropped.
PURGE_TOMBSTONES = Script(
    "purge_tombstones",
    b"""
local keys = redis.call('ZRANGEBYSCORE', '__leaderless:tombstones', '-inf', ARGV[1],
  'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(keys) do
  local rec = redis.call('GET', key)
  if rec and string.byte(rec, 12) % 2 == 1 then redis.call('DEL', key) end
  redis.call('ZREM', '__leaderless:tombstones', key)
end
return #keys
""",
)

ALL_SCRIPTS = (WRITE_IF_NEWER, FLUSH, DBSIZE, PURGE_TOMBSTONES)
