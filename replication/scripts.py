"""The Lua scripts every replica runs, and the names of the keys they keep for themselves.

A replica is a plain redis-server. What makes it a last-write-wins register store is that
every write goes through WRITE_IF_NEWER, which compares the incoming record's timestamp with
the stored one (and with the replica's newest flush) and applies the write only if it is
strictly newer. Redis runs a script atomically, so a repair or a late write can never
overwrite a newer write that landed meanwhile, and equal timestamps resolve the same way on
every replica (they never apply). The layout is that of `record.py`; Lua counts from 1, so a
record's bytes 2..11 are its timestamp (`>I6I2I2`: physical ms, logical counter, node id),
byte 12 its flags, bytes 13..18 its expiry and bytes 19..20 its key's range.

The same scripts keep the anti-entropy bookkeeping true as writes happen (the design is in
`merkle.py`): DIGESTS_KEY holds, per range, the sum of the leaf hashes of the records counted
there, compared modulo 2^48 (the sidecar adds them up by segment itself: a second sum kept per
write cost every write a fifth more of the replica's time), and its field `settled` is the expiry
watermark: records that expire at or before it are not counted. Records with an expiry are
listed in EXPIRING_KEY (member `range .. version .. key`, score = expiry) until
SETTLE_EXPIRIES takes their leaves out, because Redis deletes expired keys without running any
script; it moves them to EXPIRED_KEY (member = key, score = expiry).

An expired record is not dropped at its expiry: it stays a version, invisible to clients, for
the expired grace (the write sets the key's TTL to expiry + grace), so that it still beats the
older value of a replica that missed it until hints or anti-entropy bring it there. Past the
grace Redis drops it, and a write or repair of it (a late hint) only deletes what it overwrites,
as Redis's SET with a PXAT in the past does. So every record with an expiry that a replica
holds has one entry, in EXPIRING_KEY or EXPIRED_KEY, and those with a score in (now - grace,
now] are the keys present that clients no longer see, which DBSIZE leaves out. Tombstones are
listed in TOMBSTONES_KEY (member = key, score = write time) for
PURGE_TOMBSTONES. The range of a key is xxhash (`merkle.range_of`), which Lua lacks, so every
record carries its key's range. No index of keys by range is kept (a sorted set entry per key
cost about as much memory as a 100-byte value): the sidecar lists the keys of the ranges it
repairs by scanning the keyspace (SCAN_RANGES).

Internal keys start with INTERNAL_PREFIX; clients may not use that prefix. The set is fixed
(INTERNAL_KEYS), so that DBSIZE can leave them out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from leaderless.replication.merkle import leaf_bytes

INTERNAL_PREFIX = b"__leaderless:"
FLUSH_KEY = INTERNAL_PREFIX + b"flush"
TOMBSTONES_KEY = INTERNAL_PREFIX + b"tombstones"
DIGESTS_KEY = INTERNAL_PREFIX + b"digests"
EXPIRING_KEY = INTERNAL_PREFIX + b"expiring"
EXPIRED_KEY = INTERNAL_PREFIX + b"expired"
LEASES_KEY = INTERNAL_PREFIX + b"leases"
ANTI_ENTROPY_KEY = INTERNAL_PREFIX + b"anti_entropy"
"""The sidecars' counters and the replica's `synced_at` marker (see anti_entropy.py)."""
MEMBERS_KEY = INTERNAL_PREFIX + b"members"
"""The replicas known to hold their data, name -> when marked (see membership.py)."""
FUNCTIONS_KEY = INTERNAL_PREFIX + b"functions"
"""The record holding the code of every function library (FUNCTION LOAD), in database 0."""
RING_KEY = INTERNAL_PREFIX + b"ring"
"""The ring in force: its epoch and members (see ring_state.py)."""
EPOCH_KEY = INTERNAL_PREFIX + b"epoch"
"""The epoch of the ring in force alone, for the write script and the reads' MGET."""
INTERNAL_KEYS = (
    FUNCTIONS_KEY,
    RING_KEY,
    EPOCH_KEY,
    FLUSH_KEY,
    TOMBSTONES_KEY,
    DIGESTS_KEY,
    EXPIRING_KEY,
    EXPIRED_KEY,
    LEASES_KEY,
    ANTI_ENTROPY_KEY,
    MEMBERS_KEY,
)
SETTLED_FIELD = b"settled"

_NEWER = """
local function newer(a, b)
  local ap, al, an = struct.unpack('>I6I2I2', a)
  local bp, bl, bn = struct.unpack('>I6I2I2', b)
  if ap ~= bp then return ap > bp end
  if al ~= bl then return al > bl end
  return an > bn
end
"""

# The digest arithmetic, the same as merkle.py's: a leaf is the first 48 bits of
# sha1(key .. timestamp .. flags). A range's digest is kept as a plain integer sum (one HINCRBY
# per change, cheaper than reading and rewriting it) and compared modulo 2^48; leaves and
# deltas stay below 2^53, so Lua's doubles are exact, and the sum stays within HINCRBY's 64 bits
# while a range holds fewer than 2^15 records (2^31 keys per replica, on average).
_DIGESTS = """
local DIGESTS = '__leaderless:digests'
local EXPIRING, TOMBSTONES = '__leaderless:expiring', '__leaderless:tombstones'
local EXPIRED = '__leaderless:expired'
local MOD = 281474976710656
local function leaf(key, version)
  return tonumber(string.sub(redis.sha1hex(key .. version), 1, 12), 16)
end
local function expiry(rec) return (struct.unpack('>I6', string.sub(rec, 13, 18))) end
local function counted(rec, settled)
  local e = expiry(rec)
  return e == 0 or e > settled
end
local function is_tombstone(rec) return string.byte(rec, 12) % 2 == 1 end
local function range_of(rec) return (struct.unpack('>I2', rec, 19)) end
local function settled_at() return tonumber(redis.call('HGET', DIGESTS, 'settled') or '0') end
local function add(range, delta)
  if delta ~= 0 then redis.call('HINCRBY', DIGESTS, range, string.format('%.0f', delta)) end
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


# KEYS[i] = a client key, ARGV[i] = its encoded record and ARGV[#KEYS + i] that record's leaf
# (`merkle.leaf_bytes`: the writer hashes once for every replica, which spares each replica a
# SHA-1 per write; the stored version's leaf is still computed here), then ARGV[2 * #KEYS + 1]
# = the expired grace in ms (a record with an expiry is kept until expiry + grace) and,
# optionally, ARGV[2 * #KEYS + 2] = the writer's ring epoch: a replica that holds a newer one
# applies nothing and answers the error `RINGEPOCH <its epoch>` (ring_state.py). The epoch is
# kept in database 0 only; a write to another database names its own in ARGV[2 * #KEYS + 3],
# and the script looks at database 0 and comes back. Returns,
# per key, 1 if applied and 0 if refused: the replica holds a version at least as new or a
# newer flush, or the incoming or the stored record is of an unknown format. Only the stored
# record's header is read (GETRANGE), so replacing a large value does not copy it into Lua;
# each header is unpacked in one call. The proxy sends the writes of one event-loop tick as one
# call; the sidecar and the hint replay batch too.
WRITE_IF_NEWER = Script(
    "write_if_newer",
    (
        _DIGESTS
        + """
local flushed = redis.call('GET', '__leaderless:flush')
local fp, fl, fn = -1, 0, 0
if flushed then fp, fl, fn = struct.unpack('>I6I2I2', flushed) end
local settled = settled_at()
local grace = tonumber(ARGV[2 * #KEYS + 1])
local function after(p, l, n, q, m, o)
  return p > q or (p == q and (l > m or (l == m and n > o)))
end
local function is_counter(flags) return math.floor(flags / 2) % 2 == 1 end
local function ts_after(a, b)
  local ap, al, an = struct.unpack('>I6I2I2', a)
  local bp, bl, bn = struct.unpack('>I6I2I2', b)
  return after(ap, al, an, bp, bl, bn)
end
local function epoch_after(a, b)
  if string.sub(a, 1, 10) ~= string.sub(b, 1, 10) then return ts_after(a, b) end
  return struct.unpack('>I2', a, 11) > struct.unpack('>I2', b, 11)
end
local function state(rec)
  if not is_counter(string.byte(rec, 12)) then return {epoch = string.sub(rec, 2, 11) .. '\0\0'} end
  local size = struct.unpack('>I4', rec, 43)
  local shards, at = {}, 47 + size
  while at <= #rec do
    local length = struct.unpack('>I4', rec, at + 18)
    shards[string.sub(rec, at, at + 7)] = string.sub(rec, at + 8, at + 21 + length)
    at = at + 22 + length
  end
  return {epoch = string.sub(rec, 21, 32), expiry_ts = string.sub(rec, 33, 42),
    base = string.sub(rec, 47, 46 + size), shards = shards}
end
local function shard_order(x, y)
  local xh, xl = struct.unpack('>I4I4', x)
  local yh, yl = struct.unpack('>I4I4', y)
  return xh < yh or (xh == yh and xl < yl)
end
local function join(old, rec)
  local a, b = state(old), state(rec)
  if a.epoch ~= b.epoch then
    if epoch_after(b.epoch, a.epoch) then return rec end
    return old
  end
  if not a.shards then return rec end
  if not b.shards then return old end
  for id, held in pairs(b.shards) do
    local mine = a.shards[id]
    if not mine or ts_after(string.sub(held, 1, 10), string.sub(mine, 1, 10)) then
      a.shards[id] = held
    end
  end
  local expiry_from, expiry_ts = old, a.expiry_ts
  if ts_after(b.expiry_ts, a.expiry_ts) then expiry_from, expiry_ts = rec, b.expiry_ts end
  local top = old
  if ts_after(string.sub(rec, 2, 11), string.sub(old, 2, 11)) then top = rec end
  local ids = {}
  for id in pairs(a.shards) do ids[#ids + 1] = id end
  table.sort(ids, shard_order)
  local parts = {string.sub(top, 1, 11), string.char(2), string.sub(expiry_from, 13, 18),
    string.sub(rec, 19, 20), a.epoch, expiry_ts, struct.pack('>I4', #a.base) .. a.base}
  for _, id in ipairs(ids) do
    parts[#parts + 1] = id
    parts[#parts + 1] = a.shards[id]
  end
  return table.concat(parts)
end
local function apply(key, rec, added)
  if #rec < 20 then return 0 end
  local format, p, l, n, flags, expires, range = struct.unpack('>BI6I2I2BI6I2', rec)
  if format ~= 2 or not after(p, l, n, fp, fl, fn) then return 0 end
  local old = redis.call('GETRANGE', key, 0, 19)
  local delta = 0
  if old ~= '' then
    if #old < 20 or string.byte(old, 1) ~= 2 then return 0 end
    local _, op, ol, on, oflags, oexpires = struct.unpack('>BI6I2I2BI6', old)
    local merged, joined = false, nil
    if is_counter(flags) or is_counter(oflags) then
      local whole = redis.call('GET', key)
      merged, joined = pcall(join, whole, rec)  -- a state it cannot read: last write wins
      if merged and joined == whole then return 0 end
    end
    if merged then
      rec, added = joined, leaf(key, string.sub(joined, 2, 12))
      _, p, l, n, flags, expires = struct.unpack('>BI6I2I2BI6', rec)
    elseif not after(p, l, n, op, ol, on) then
      return 0
    end
    if oexpires == 0 or oexpires > settled then
      local version = string.sub(old, 2, 12)
      delta = -leaf(key, version)
      if oexpires > 0 then
        redis.call('ZREM', EXPIRING, string.sub(old, 19, 20) .. version .. key)
      end
    else
      redis.call('ZREM', EXPIRED, key)
    end
    if oflags % 2 == 1 and flags % 2 == 0 then redis.call('ZREM', TOMBSTONES, key) end
  end
  if expires > 0 then
    redis.call('SET', key, rec, 'PXAT', string.format('%.0f', expires + grace))
  else
    redis.call('SET', key, rec)
  end
  if expires == 0 or expires > settled then
    delta = delta + added
    if expires > 0 then
      redis.call('ZADD', EXPIRING, string.format('%.0f', expires),
        string.sub(rec, 19, 20) .. string.sub(rec, 2, 12) .. key)
    end
  else
    redis.call('ZADD', EXPIRED, string.format('%.0f', expires), key)
  end
  if flags % 2 == 1 then redis.call('ZADD', TOMBSTONES, string.format('%.0f', p), key) end
  add(range, delta)
  return 1
end
local count = #KEYS
local writer_epoch = ARGV[2 * count + 2]
if writer_epoch then
  local db = tonumber(ARGV[2 * count + 3] or '0')
  if db ~= 0 then redis.call('SELECT', 0) end
  local held = tonumber(redis.call('GET', '__leaderless:epoch') or '0')
  if db ~= 0 then redis.call('SELECT', db) end
  if held > tonumber(writer_epoch) then
    return redis.error_reply('RINGEPOCH ' .. string.format('%d', held))
  end
end
local applied = {}
for i = 1, count do
  applied[i] = apply(KEYS[i], ARGV[i], (struct.unpack('>I6', ARGV[count + i])))
end
return applied
"""
    ).encode(),
)


def write_if_newer_args(
    keys: Sequence[bytes],
    records: Sequence[bytes],
    expired_grace_ms: int,
    epoch: int | None = None,
    db: int = 0,
    leaves: Sequence[bytes] | None = None,
) -> list[bytes]:
    """WRITE_IF_NEWER's ARGV for these keys and their encoded records: the records, their
    leaves (`leaves` when the caller has them), the expired grace, then the writer's ring epoch
    if it is to be checked, with the database written to unless it is 0."""
    if leaves is None:
        leaves = list(map(leaf_bytes, keys, records))
    args = [*records, *leaves, b"%d" % expired_grace_ms]
    if epoch is not None:
        args.append(b"%d" % epoch)
        if db:
            args.append(b"%d" % db)
    return args


# KEYS = the keys to read, then FLUSH_KEY; ARGV[1] = the database read. What `MGET key...
# FLUSH_KEY EPOCH_KEY` answers in database 0, for another database: the epoch is kept in
# database 0 only (ring_state.py).
READ_WITH_EPOCH = Script(
    "read_with_epoch",
    b"""
local values = redis.call('MGET', unpack(KEYS))
redis.call('SELECT', 0)
values[#values + 1] = redis.call('GET', '__leaderless:epoch') or false
redis.call('SELECT', tonumber(ARGV[1]))
return values
""",
)


# ARGV[1] = the flush's 10-byte timestamp. Deletes every record not newer than the flush and
# remembers the flush, so that older writes and repairs are refused from then on, and rebuilds
# the digests and the tombstone and expiry lists from the records that survived (writes newer
# than the flush that arrived before it), all in one SCAN; SCAN may return a key twice, so the
# survivors counted are remembered. Returns 1 if applied, 0 if the replica already had this
# flush or a newer one.
FLUSH = Script(
    "flush",
    (
        _NEWER
        + _DIGESTS
        + """
local ts = ARGV[1]
local flushed = redis.call('GET', '__leaderless:flush')
if flushed and not newer(ts, flushed) then return 0 end
redis.call('SET', '__leaderless:flush', ts)
local settled = settled_at()
redis.call('DEL', DIGESTS, EXPIRING, EXPIRED, TOMBSTONES)
if settled > 0 then redis.call('HSET', DIGESTS, 'settled', string.format('%.0f', settled)) end
local survivors, sums = {}, {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if string.sub(key, 1, 13) ~= '__leaderless:' and not survivors[key] then
      local rec = redis.call('GET', key)
      if rec and not newer(string.sub(rec, 2, 11), ts) then
        redis.call('DEL', key)
      elseif rec then
        survivors[key] = true
        if is_tombstone(rec) then
          redis.call('ZADD', TOMBSTONES,
            string.format('%.0f', (struct.unpack('>I6', rec, 2))), key)
        end
        if counted(rec, settled) then
          local range = range_of(rec)
          sums[range] = ((sums[range] or 0) + leaf(key, string.sub(rec, 2, 12))) % MOD
          if expiry(rec) > 0 then
            redis.call('ZADD', EXPIRING, string.format('%.0f', expiry(rec)),
              string.sub(rec, 19, 20) .. string.sub(rec, 2, 12) .. key)
          end
        else
          redis.call('ZADD', EXPIRED, string.format('%.0f', expiry(rec)), key)
        end
      end
    end
  end
until cursor == '0'
for range, sum in pairs(sums) do add(range, sum) end
return 1
"""
    ).encode(),
)

_EXPIRED_KEPT = b"""
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local kept = '(' .. string.format('%.0f', now - tonumber(ARGV[1]))
local upto = string.format('%.0f', now)
local expired_kept = redis.call('ZCOUNT', '__leaderless:expiring', kept, upto)
  + redis.call('ZCOUNT', '__leaderless:expired', kept, upto)
"""
"""With ARGV[1] the expired grace in ms: `expired_kept`, how many expired records the replica
still keeps (expiry in (now - grace, now], by this replica's clock, as Redis expires keys by it)."""

# ARGV[1] = the expired grace in ms. The number of keys a client can see: all keys less
# tombstones, internal keys and expired records still kept. Keys past expiry + grace that Redis
# has not reclaimed yet count, exactly as Redis's own DBSIZE counts expired keys.
DBSIZE = Script(
    "dbsize",
    _EXPIRED_KEPT
    + b"""
return redis.call('DBSIZE') - redis.call('ZCARD', '__leaderless:tombstones') - expired_kept
  - redis.call('EXISTS', '"""
    + b"', '".join(INTERNAL_KEYS)
    + b"""')
""",
)

# ARGV[1] = the expired grace in ms, ARGV[2] = the number of the database the script runs in.
# The number of keys with an expiry a client can see: INFO keyspace's `expires` of the database
# less the expired records still kept (only records have a TTL: their expiry plus the grace).
EXPIRES = Script(
    "expires",
    _EXPIRED_KEPT
    + b"""
local line = 'db' .. ARGV[2] .. ':keys=%d+,expires=(%d+)'
local expires = string.match(redis.call('INFO', 'keyspace'), line)
if not expires then return 0 end
return tonumber(expires) - expired_kept
""",
)

# ARGV[1] = cutoff physical ms, ARGV[2] = at most this many. Drops tombstones written at or
# before the cutoff (now - grace), taking their leaves out of the digests. Returns how many
# were dropped.
PURGE_TOMBSTONES = Script(
    "purge_tombstones",
    (
        _DIGESTS
        + """
local settled = settled_at()
local members = redis.call('ZRANGEBYSCORE', TOMBSTONES, '-inf', ARGV[1],
  'LIMIT', 0, tonumber(ARGV[2]))
for _, key in ipairs(members) do
  local rec = redis.call('GET', key)
  if rec and is_tombstone(rec) then
    redis.call('DEL', key)
    if counted(rec, settled) then add(range_of(rec), -leaf(key, string.sub(rec, 2, 12))) end
  end
  redis.call('ZREM', TOMBSTONES, key)
end
return #members
"""
    ).encode(),
)

# ARGV[1] = cutoff unix ms, ARGV[2] = at most this many, ARGV[3] = the expired grace in ms.
# Takes the leaves of records expiring at or before the cutoff out of the digests and moves
# their entries to EXPIRED_KEY (whether or not Redis has deleted them yet; a record still there
# is left for Redis to delete at expiry + grace), and drops the entries of EXPIRED_KEY whose
# records are past expiry + grace. Once no leaf is left to take out, the watermark `settled`
# becomes the cutoff. It never moves back. Returns {how many entries were settled or dropped,
# the watermark}: fewer than the batch means none is left.
SETTLE_EXPIRIES = Script(
    "settle_expiries",
    (
        _DIGESTS
        + """
local settled = settled_at()
local cutoff, batch, grace = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local gone = string.format('%.0f', cutoff - grace)
local dropped = redis.call('ZRANGEBYSCORE', EXPIRED, '-inf', gone, 'LIMIT', 0, batch)
if #dropped > 0 then redis.call('ZREM', EXPIRED, unpack(dropped)) end
if cutoff <= settled then return {#dropped, settled} end
local members = redis.call('ZRANGEBYSCORE', EXPIRING, '-inf', ARGV[1], 'LIMIT', 0, batch,
  'WITHSCORES')
for i = 1, #members, 2 do
  local member, score = members[i], members[i + 1]
  add(struct.unpack('>I2', member), -leaf(string.sub(member, 14), string.sub(member, 3, 13)))
  redis.call('ZREM', EXPIRING, member)
  if tonumber(score) > cutoff - grace then
    redis.call('ZADD', EXPIRED, score, string.sub(member, 14))
  end
end
local settling = #members / 2
if settling < batch then
  redis.call('HSET', DIGESTS, 'settled', ARGV[1])
  settled = cutoff
end
return {math.max(settling, #dropped), settled}
"""
    ).encode(),
)

# ARGV[1] = a SCAN cursor, ARGV[2] = SCAN's COUNT, ARGV[3] = the wanted ranges as a bitmap
# (`range_scan.range_bitmap`). One step of a SCAN: returns {next cursor, keys scanned (decimal),
# key, header, key, header, ...}, all strings, with the header (first 20 bytes) of each record
# scanned whose range is wanted. Keys holding no record of this format (internal keys, foreign
# data) are skipped. As with SCAN, a key can come back in more than one step; the work of a
# step is about COUNT keys, so Redis is never blocked for long.
SCAN_RANGES = Script(
    "scan_ranges",
    b"""
local page = redis.call('SCAN', ARGV[1], 'COUNT', tonumber(ARGV[2]), 'TYPE', 'string')
local wanted = ARGV[3]
local out = {page[1], tostring(#page[2])}
for _, key in ipairs(page[2]) do
  if string.sub(key, 1, 13) ~= '__leaderless:' then
    local header = redis.call('GETRANGE', key, 0, 19)
    if #header == 20 and string.byte(header) == 2 then
      local range = struct.unpack('>I2', header, 19)
      local bits = string.byte(wanted, math.floor(range / 8) + 1)
      if math.floor(bits / 2 ^ (7 - range % 8)) % 2 == 1 then
        out[#out + 1] = key
        out[#out + 1] = header
      end
    end
  end
end
return out
""",
)

# KEYS = client keys. Returns the header (first 20 bytes) of each one's record, '' if none.
READ_HEADERS = Script(
    "read_headers",
    b"""
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('GETRANGE', key, 0, 19) end
return out
""",
)

# ARGV[1] = the lease's field, ARGV[2] = owner, ARGV[3] = milliseconds. Takes or renews the
# lease unless someone else holds one that has not expired by this replica's clock.
# Returns 1 if the caller holds it now, 0 if not.
TAKE_LEASE = Script(
    "take_lease",
    b"""
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local held = redis.call('HGET', '__leaderless:leases', ARGV[1])
if held then
  local owner, expires = string.match(held, '^(.*) (%d+)$')
  if owner ~= ARGV[2] and tonumber(expires) > now then return 0 end
end
redis.call('HSET', '__leaderless:leases', ARGV[1],
  ARGV[2] .. ' ' .. string.format('%.0f', now + tonumber(ARGV[3])))
return 1
""",
)

# ARGV[1] = the lease's field, ARGV[2] = owner. Drops the lease if the caller holds it.
RELEASE_LEASE = Script(
    "release_lease",
    b"""
local held = redis.call('HGET', '__leaderless:leases', ARGV[1])
if held and string.match(held, '^(.*) %d+$') == ARGV[2] then
  return redis.call('HDEL', '__leaderless:leases', ARGV[1])
end
return 0
""",
)

# KEYS[i] = a client key, ARGV[i] = the record header (first 20 bytes) a move checked it by.
# Deletes each key whose stored header is still that one, taking out what WRITE_IF_NEWER put
# in for it: its leaf from its range's digest (if counted), its entry in EXPIRING_KEY or
# EXPIRED_KEY, and its TOMBSTONES_KEY entry. A key written since (another header) is kept.
# Returns how many were deleted.
DROP = Script(
    "drop",
    (
        _DIGESTS
        + """
local settled = settled_at()
local dropped = 0
for i, key in ipairs(KEYS) do
  local old = redis.call('GETRANGE', key, 0, 19)
  if #old == 20 and old == ARGV[i] then
    local version = string.sub(old, 2, 12)
    if counted(old, settled) then
      add(range_of(old), -leaf(key, version))
      if expiry(old) > 0 then
        redis.call('ZREM', EXPIRING, string.sub(old, 19, 20) .. version .. key)
      end
    else
      redis.call('ZREM', EXPIRED, key)
    end
    if is_tombstone(old) then redis.call('ZREM', TOMBSTONES, key) end
    redis.call('DEL', key)
    dropped = dropped + 1
  end
end
return dropped
"""
    ).encode(),
)

ALL_SCRIPTS = (
    WRITE_IF_NEWER,
    FLUSH,
    DBSIZE,
    EXPIRES,
    PURGE_TOMBSTONES,
    SETTLE_EXPIRIES,
    SCAN_RANGES,
    READ_HEADERS,
    TAKE_LEASE,
    RELEASE_LEASE,
    READ_WITH_EPOCH,
    DROP,
)
