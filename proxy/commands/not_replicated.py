"""The commands Redis has that the proxy does not replicate yet, by family, and the error
each gets instead of "unknown command".

A client that sends HSET to a Redis-protocol endpoint deserves to learn that the command
exists and why it is refused, not that it is unknown. The families are Redis's own command
groups (COMMAND DOCS `group`); the names are the reference server's commands of each group.
None of them is in the command table: COMMAND, COMMAND COUNT and COMMAND INFO describe only
what is served, and `table.lookup` answers these errors where it would answer an unknown
command, so one queued inside MULTI makes EXEC abort just as an unknown command does. The
connection stays open.
"""

from __future__ import annotations

from collections.abc import Mapping

from leaderless.proxy.resp import ErrorReply

_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "bit operations on string values are not supported",
        ("bitcount", "bitfield", "bitfield_ro", "bitop", "bitpos", "getbit", "setbit"),
    ),
    (
        "geospatial indexes are not supported, only strings",
        (
            "geoadd",
            "geodist",
            "geohash",
            "geopos",
            "georadius",
            "georadius_ro",
            "georadiusbymember",
            "georadiusbymember_ro",
            "geosearch",
            "geosearchstore",
        ),
    ),
    (
        "hashes are not supported, only strings",
        (
            "hdel",
            "hexists",
            "hget",
            "hgetall",
            "hincrby",
            "hincrbyfloat",
            "hkeys",
            "hlen",
            "hmget",
            "hmset",
            "hrandfield",
            "hscan",
            "hset",
            "hsetnx",
            "hstrlen",
            "hvals",
        ),
    ),
    (
        "HyperLogLogs are not supported, only strings",
        ("pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest"),
    ),
    (
        "lists are not supported, only strings",
        (
            "blmove",
            "blmpop",
            "blpop",
            "brpop",
            "brpoplpush",
            "lindex",
            "linsert",
            "llen",
            "lmove",
            "lmpop",
            "lpop",
            "lpos",
            "lpush",
            "lpushx",
            "lrange",
            "lrem",
            "lset",
            "ltrim",
            "rpop",
            "rpoplpush",
            "rpush",
            "rpushx",
        ),
    ),
    (
        "publish/subscribe is not supported",
        (
            "psubscribe",
            "publish",
            "pubsub",
            "punsubscribe",
            "spublish",
            "ssubscribe",
            "subscribe",
            "sunsubscribe",
            "unsubscribe",
        ),
    ),
    (
        "sets are not supported, only strings",
        (
            "sadd",
            "scard",
            "sdiff",
            "sdiffstore",
            "sinter",
            "sintercard",
            "sinterstore",
            "sismember",
            "smembers",
            "smismember",
            "smove",
            "spop",
            "srandmember",
            "srem",
            "sscan",
            "sunion",
            "sunionstore",
        ),
    ),
    (
        "sorted sets are not supported, only strings",
        (
            "bzmpop",
            "bzpopmax",
            "bzpopmin",
            "zadd",
            "zcard",
            "zcount",
            "zdiff",
            "zdiffstore",
            "zincrby",
            "zinter",
            "zintercard",
            "zinterstore",
            "zlexcount",
            "zmpop",
            "zmscore",
            "zpopmax",
            "zpopmin",
            "zrandmember",
            "zrange",
            "zrangebylex",
            "zrangebyscore",
            "zrangestore",
            "zrank",
            "zrem",
            "zremrangebylex",
            "zremrangebyrank",
            "zremrangebyscore",
            "zrevrange",
            "zrevrangebylex",
            "zrevrangebyscore",
            "zrevrank",
            "zscan",
            "zscore",
            "zunion",
            "zunionstore",
        ),
    ),
    (
        "streams are not supported, only strings",
        (
            "xack",
            "xadd",
            "xautoclaim",
            "xclaim",
            "xdel",
            "xgroup",
            "xinfo",
            "xlen",
            "xpending",
            "xrange",
            "xread",
            "xreadgroup",
            "xrevrange",
            "xsetid",
            "xtrim",
        ),
    ),
)

NOT_REPLICATED: Mapping[str, ErrorReply] = {
    name: ErrorReply(f"ERR '{name}' is not replicated by leaderless yet: {why}; see README")
    for why, names in _FAMILIES
    for name in names
}
"""The refusal of each command not replicated yet, by its lower-case name."""
