"""Scripts and functions against the reference, byte for byte in RESP2 and RESP3: what a
script's values become as replies and what replies become in the script, Redis's errors and
their lines, the sandbox, the libraries, the commands a script may not call, SCRIPT LOAD,
EXISTS, FLUSH and KILL and NOSCRIPT, and FUNCTION and FCALL."""

from __future__ import annotations

import pytest
from leaderless.proxy.app.local_nodes import LocalRedisNode

from tests.integration.conftest import Cluster
from tests.support.compat import Case, c, case, mismatches

pytestmark = pytest.mark.integration

RETURN_1 = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
"""The SHA1 of `return 1`."""


def script(body: str, *keys_then_args: str, keys: int = 0) -> object:
    return c("EVAL", body, keys, *keys_then_args)


CASES: list[Case] = [
    case(
        "Lua values as replies",
        script("return 1"),
        script("return 3.99"),
        script("return -3.7"),
        script("return 'a'"),
        script("return true"),
        script("return false"),
        script("return nil"),
        script("return"),
        script("return {1, 2, 3, nil, 4}"),
        script("return {1, 'a', {2, {3}}, true, false, 2.5, {err='e'}}"),
        script("return {err='My Error'}"),
        script("return {ok='fine'}"),
        script("return {err=5}"),
        script("return {double=3.5}"),
        script("return {map={a=1}}"),
        script("return {set={a=true}}"),
        script("return {verbatim_string={format='txt', string='hi'}}"),
        script("return 1, 2"),
    ),
    case(
        "RESP3 values of a script that chose RESP3",
        script("redis.setresp(3); return {map={a=1}}"),
        script("redis.setresp(3); return {set={a=true}}"),
        script("redis.setresp(3); return {double=3.5}"),
        script("redis.setresp(3); return true"),
        script("redis.setresp(3); return false"),
        script("redis.setresp(3); return {1, false, true}"),
    ),
    case(
        "replies as Lua values",
        c("SET", "str", "abc"),
        script("return redis.call('get', 'str')"),
        script("return type(redis.call('get', 'nope'))"),
        script("return tostring(redis.call('get', 'nope'))"),
        script("return redis.call('mget', 'str', 'nope')"),
        script("local r = redis.call('set', 'z', '1'); return type(r) .. r.ok"),
        script("return redis.call('set', 'z', '1')"),
        script("return redis.call('ping')"),
        script("return redis.call('echo', 'x')"),
        script("return redis.call('exists', 'str', 'nope')"),
        script("return redis.call('set', 'str', 'b', 'GET')"),
        script("redis.setresp(3); return redis.call('get', 'nope') == nil"),
        script("return redis.call('get', 'nope') == false"),
        script("return redis.call('set', 'n', 0.1) and redis.call('get', 'n')"),
        script("return redis.call('set', 'n', 1e20) and redis.call('get', 'n')"),
        script("return redis.call('set', 'n', 3) and redis.call('get', 'n')"),
    ),
    case(
        "KEYS, ARGV and the number of keys",
        c("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}", 2, "k1", "k2", "a1"),
        c("EVAL", "return 1", -1),
        c("EVAL", "return 1", 2, "a"),
        c("EVAL", "return 1", "x"),
        c("EVAL", "return 1", "01"),
        c("EVAL", "syntax error", "x"),
        c("EVAL", "return 1"),
    ),
    case(
        "writes and reads of a script",
        c(
            "EVAL",
            "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])",
            1,
            "k",
            "v",
        ),
        c("GET", "k"),
        c(
            "EVAL",
            "redis.call('append', KEYS[1], 'w'); return redis.call('strlen', KEYS[1])",
            1,
            "k",
        ),
        c("EVAL", "redis.call('del', KEYS[1]); return redis.call('exists', KEYS[1])", 1, "k"),
        c("EXISTS", "k"),
        c(
            "EVAL",
            "redis.call('set', 'e', 'v', 'PX', 100000); return redis.call('pexpire', 'e', 500000)",
            0,
        ),
        c(
            "EVAL",
            "redis.call('select', 1); redis.call('set', 'in1', 'x'); return redis.call('dbsize')",
            0,
        ),
        c("EXISTS", "in1"),
        c("SELECT", 1),
        c("GET", "in1"),
        c("SELECT", 0),
    ),
    case(
        "errors and the line they name",
        script("return x"),
        script("x = 1"),
        script("KEYS = 1"),
        script("redis.call = 1"),
        script("string.foo = 1"),
        script("return _G.x"),
        script("return rawget(_G, 'x')"),
        script("return type(rawget(_G, 'string'))"),
        script("rawset(_G, 'zz', 1) return zz"),
        script("return zz"),
        script("rawset(string, 'zz', 1) return string.zz"),
        script("local t = {} rawset(t, 'a', 1) return rawget(t, 'a')"),
        script("return type(getmetatable(''))"),
        script("getmetatable('').__index = {}"),
        script("getmetatable('').__index.upper = nil"),
        script("return ('x'):upper()"),
        script("return pairs()"),
        script("return pairs(1)"),
        script("table.insert(_G, 1)"),
        script("table.insert(string, 1)"),
        script("local ok, e = pcall(table.insert, _G, 1) return e"),
        script("return table.insert()"),
        script("return table.insert(1, 2)"),
        script("return table.insert({}, 1, 2, 3)"),
        script("local t = {3, 1, 2} table.insert(t, 4) table.insert(t, 1, 9) return t"),
        script("return table.remove(_G)"),
        script("return next({})"),
        script("local n = 0 for k in pairs(string) do n = n + 1 end return n"),
        script("local t = {} for k in pairs(redis) do t[#t + 1] = k end table.sort(t) return t"),
        script("local t = {1, 2}\nfor k, v in pairs(t) do\n  redis.call('nosuch')\nend"),
        script("syntax error here"),
        script("error('boom')"),
        script("error({err='X boom'})"),
        script("error({})"),
        script("error({err=5})"),
        script("error(5)"),
        script("error('x', 0)"),
        script("return error()"),
        script("error(redis.error_reply('x'))"),
        script("\n\nreturn redis.call('set', 'k')"),
        script("local function f() return redis.call('set', 'k') end\nreturn f()"),
        script("redis.setresp(3); return redis.call('nosuch')"),
        script("return redis.error_reply('x')"),
        script("return redis.error_reply('-x')"),
        script("return redis.error_reply('My Error')"),
        script("return redis.error_reply('MY x')"),
        script("return redis.error_reply('')"),
        script("return redis.error_reply(5)"),
        script("return redis.status_reply('x')"),
        script("return redis.status_reply(5)"),
        script("return redis.setresp(4)"),
        script("return redis.setresp()"),
        script("return redis.sha1hex()"),
        script("return redis.sha1hex('')"),
        script("return redis.sha1hex(5)"),
        script("return redis.log()"),
        script("return redis.log(redis.LOG_WARNING, 'from a test')"),
    ),
    case(
        "redis.call and redis.pcall refusals",
        c("SET", "str", "abc"),
        script("return redis.call('nosuch')"),
        script("return redis.pcall('nosuch')"),
        script("local t = redis.pcall('nosuch'); return type(t) .. ' ' .. t.err"),
        script("local ok, e = pcall(redis.call, 'nosuch'); return e"),
        script("return redis.call('get')"),
        script("return redis.pcall('get')"),
        script("return redis.call('get', 'a', 'b')"),
        script("return redis.call()"),
        script("return redis.pcall()"),
        script("return redis.call(1)"),
        script("return redis.call({})"),
        script("return redis.call('set', 'n', true)"),
        script("return redis.pcall('set', 'n', true)"),
        script("return redis.call('set', 'k', 'v', 'bogus')"),
        script("return redis.pcall('set', 'k', 'v', 'bogus')"),
        script("local ok, e = pcall(redis.call, 'set', 'k', 'v', 'bogus'); return {ok, e}"),
        script("return redis.call('eval', 'return 1', '0')"),
        script("return redis.call('multi')"),
        script("return redis.call('script', 'load', 'return 1')"),
        script("return redis.call('client', 'id')"),
        script("return redis.call('watch', 'x')"),
        script("return redis.call('auth', 'x')"),
        script("return redis.call('config', 'get', 'maxmemory')"),
        script("return redis.call('select', '100')"),
        c("EVAL_RO", "return redis.call('get', 'str')", 0),
        c("EVAL_RO", "return redis.call('set', 'k', 'v')", 0),
        c("EVAL_RO", "return redis.pcall('set', 'k', 'v')", 0),
        c("EVAL_RO", "return redis.pcall('flushall')", 0),
        c("GET", "k"),
    ),
    case(
        "SCRIPT LOAD, EXISTS and FLUSH, and EVALSHA",
        c("SCRIPT", "FLUSH"),
        c("EVALSHA", RETURN_1, 0),
        c("SCRIPT", "EXISTS", RETURN_1, "abc"),
        c("SCRIPT", "LOAD", "return 1"),
        c("SCRIPT", "EXISTS", RETURN_1.upper(), "abc"),
        c("EVALSHA", RETURN_1, 0),
        c("EVALSHA", RETURN_1.upper(), 0),
        c("EVALSHA_RO", RETURN_1, 0),
        c("EVALSHA", RETURN_1, "x"),
        c("EVALSHA", "e0e1f9", -1),
        c("EVALSHA", "0" * 40, "x"),
        c("SCRIPT", "LOAD", "syntax error"),
        c("SCRIPT", "LOAD", "a", "b"),
        c("SCRIPT", "EXISTS"),
        c("SCRIPT", "FLUSH", "x"),
        c("SCRIPT", "FLUSH", "SYNC", "ASYNC"),
        c("SCRIPT", "FLUSH", "sync"),
        c("EVALSHA", RETURN_1, 0),
        c("EVAL", "return 2", 0),
        c("EVALSHA", "7f923f79fe76194c868d7e1d0820de36700eb649", 0),
        c("SCRIPT", "FLUSH", "ASYNC"),
        c("SCRIPT", "nosuch"),
        c("SCRIPT", "KILL"),
        c("FUNCTION", "KILL"),
        c("SCRIPT", "KILL", "x"),
    ),
    case(
        "a shebang line and its flags",
        script("#!lua\nreturn 1"),
        script("#!lua\nreturn x"),
        script("#!lua\nreturn redis.call('set', 'k', 'v')"),
        script("#!lua flags=no-writes\nreturn redis.call('set', 'k', 'w')"),
        script("#!lua flags=no-writes\nreturn redis.call('get', 'k')"),
        script("#!lua flags=no-writes,allow-stale\nreturn 1"),
        script("#!lua flags=allow-oom,no-cluster,allow-cross-slot-keys,allow-stale\nreturn 2"),
        script("#!lua  flags=no-writes\nreturn 3"),
        script("#!lua flags=\nreturn 4"),
        script("#!lua flags=bogus\nreturn 1"),
        script("#!py\nreturn 1"),
        script("#!luax\nreturn 1"),
        script("#!lua name=x\nreturn 1"),
        script("#!lua"),
        c("EVAL", "#!lua flags=bogus\nreturn 1", "x"),
        c("SCRIPT", "LOAD", "#!lua flags=bogus\nreturn 1"),
        c("EVAL_RO", "#!lua\nreturn 1", 0),
        c("EVAL_RO", "#!lua flags=no-writes\nreturn 1", 0),
    ),
    case(
        "scripts inside a transaction",
        c("MULTI"),
        script("return redis.call('set', 'k', 'v')"),
        c("EVAL", "return 1", -1),
        script("return redis.call('get', 'k')"),
        c("EXEC"),
        c("MULTI"),
        c("EVAL", "return 1"),
        c("EXEC"),
    ),
    case(
        "the libraries",
        script("return cjson.encode({1, 2, {a=1}})"),
        script("return cjson.decode('[1,2,{\"a\":1.5}]')[3].a"),
        script("return cjson.encode({})"),
        script("return cjson.encode('a/b')"),
        script("return cjson.decode('[null]')[1] == cjson.null"),
        script("return bit.band(5, 3)"),
        script("return bit.tohex(255)"),
        script("return bit.bxor(7, 2)"),
        script("return bit.lshift(1, 4)"),
        script("return bit.band()"),
        script("return bit.band(1, 'x')"),
        script("return bit.band(1, nil)"),
        script("return bit.band('5', 3)"),
        script("return bit.tohex(-1, -4)"),
        script("return {bit.rol(0x80000001, 1), bit.ror(1, 1), bit.bswap(0x12345678)}"),
        script("return {bit.arshift(-256, 4), bit.rshift(-256, 4), bit.bnot(0)}"),
        script("return {bit.tobit(0xffffffff + 2), bit.lshift(1, 33), bit.bor(1, 2, 4, 8)}"),
        script("return cmsgpack.pack({1, 2, 3}, {a=1}, {}, {1, nil, 3})"),
        script("return cmsgpack.pack(1.5, -1, 300, 'x', true, nil, 2^40, 0.1)"),
        script(
            "return cmsgpack.pack(-33, -200, -40000, -3000000000, 70000, 5000000000,"
            " string.rep('x', 40), string.rep('y', 300))"
        ),
        script(
            "return {cmsgpack.unpack(cmsgpack.pack(-33, -3000000000, 5000000000, 'x', 2.5, 0.1,"
            " {a={b={1}}}, {1, nil, 3}))}"
        ),
        script("return cmsgpack.unpack()"),
        script("return cmsgpack.pack()"),
        script("return cmsgpack.unpack(string.char(0x92, 1))"),
        script("local ok, e = pcall(cmsgpack.unpack, string.char(0xc1)); return e"),
        script("return cjson.decode('nope')"),
        script("return cjson.encode()"),
        script("return cjson.encode(function() end)"),
        script("return type(os.clock)"),
        script("return os.time"),
        script("return tostring(1e15) .. ' ' .. tostring(0.1)"),
        script("return string.format('%d-%s', 5, 'x')"),
        script("return table.concat({'a', 'b'}, ',')"),
        script("return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}"),
        script("return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}"),
        script("return redis.replicate_commands()"),
        script("return redis.set_repl(redis.REPL_ALL)"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_script_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    found = mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, CASES)
    assert not found, found


ECHO_LIBRARY = (
    "#!lua name=echo\n"
    "redis.register_function('echo_keys', function(keys, args) return {keys[1], args[1]} end)"
)
READER_LIBRARY = (
    "#!lua name=reader\n"
    "redis.register_function{function_name='reader', callback=function(keys, args)\n"
    "  return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}"
)
WRITER_LIBRARY = (
    "#!lua name=writer\n"
    "redis.register_function('writer', function(keys, args)\n"
    "  return redis.call('set', keys[1], args[1]) end)"
)

FUNCTION_CASES: list[Case] = [
    case(
        "FUNCTION LOAD, LIST and DELETE",
        c("FUNCTION", "FLUSH"),
        c("FUNCTION", "LOAD", ECHO_LIBRARY),
        c("FUNCTION", "LOAD", ECHO_LIBRARY),
        c("FUNCTION", "LOAD", "REPLACE", ECHO_LIBRARY),
        c("FUNCTION", "LIST"),
        c("FUNCTION", "LIST", "WITHCODE"),
        c("FUNCTION", "LIST", "LIBRARYNAME", "ec*"),
        c("FUNCTION", "LIST", "LIBRARYNAME", "x*"),
        c("FUNCTION", "LIST", "bogus"),
        c("FUNCTION", "LOAD", READER_LIBRARY),
        c("FUNCTION", "LIST", "LIBRARYNAME", "reader"),
        c("FUNCTION", "DELETE", "nosuch"),
        c("FUNCTION", "DELETE", "echo"),
        c("FUNCTION", "LIST", "LIBRARYNAME", "echo"),
        c("FUNCTION", "FLUSH", "x"),
        c("FUNCTION", "FLUSH", "ASYNC"),
        c("FUNCTION", "LIST"),
    ),
    case(
        "FUNCTION LOAD errors",
        c("FUNCTION", "FLUSH"),
        c("FUNCTION", "LOAD", "return 1"),
        c("FUNCTION", "LOAD", "#!lua\nreturn 1"),
        c("FUNCTION", "LOAD", "#!lua name=x\nreturn 1"),
        c("FUNCTION", "LOAD", "#!py name=x\nreturn 1"),
        c("FUNCTION", "LOAD", "#!lua name=x foo=bar\nreturn 1"),
        c("FUNCTION", "LOAD", "#!lua name=x\nsyntax error"),
        c("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('a-b', function() end)"),
        c("FUNCTION", "LOAD", "#!lua name=x\nredis.call('get', 'k')"),
        c("FUNCTION", "LOAD", "#!lua name=x\nlocal x = KEYS"),
        c("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('f')"),
        c(
            "FUNCTION",
            "LOAD",
            "#!lua name=x\nredis.register_function{function_name='f', callback=function() end,"
            " flags={'bogus'}}",
        ),
        c("FUNCTION", "LOAD", ECHO_LIBRARY),
        c(
            "FUNCTION",
            "LOAD",
            "#!lua name=other\nredis.register_function('echo_keys', function() end)",
        ),
        c("FUNCTION", "LIST"),
    ),
    case(
        "FCALL and FCALL_RO",
        c("FUNCTION", "FLUSH"),
        c("FUNCTION", "LOAD", ECHO_LIBRARY),
        c("FUNCTION", "LOAD", READER_LIBRARY),
        c("FUNCTION", "LOAD", WRITER_LIBRARY),
        c("FCALL", "echo_keys", 1, "k", "a"),
        c("FCALL", "echo_keys", 0),
        c("FCALL", "echo_keys", "x"),
        c("FCALL", "echo_keys", -1),
        c("FCALL", "echo_keys", 2, "k"),
        c("FCALL", "nosuch", 0),
        c("FCALL", "writer", 1, "k", "v"),
        c("FCALL", "reader", 1, "k"),
        c("FCALL_RO", "reader", 1, "k"),
        c("FCALL_RO", "writer", 1, "k", "v"),
        c("FCALL_RO", "echo_keys", 0),
        c(
            "FUNCTION",
            "LOAD",
            "#!lua name=failing\nredis.register_function('failing', function()\n"
            "  return redis.call('nosuch') end)\n"
            "redis.register_function{function_name='sneaky', callback=function(keys)\n"
            "  return redis.call('set', keys[1], 'x') end, flags={'no-writes'}}",
        ),
        c("FCALL", "failing", 0),
        c("FCALL", "sneaky", 1, "k"),
        c("GET", "k"),
    ),
]


@pytest.mark.parametrize("protocol", [2, 3])
def test_function_replies_match_the_reference_byte_for_byte(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, protocol: int
) -> None:
    found = mismatches(shared_cluster.proxy.port, shared_reference.port, protocol, FUNCTION_CASES)
    assert not found, found
