"""The Lua VM with a stand-in for the proxy's commands: the sandbox, Redis's error texts and
lines, pcall, the libraries, and the time limit. Every expected text is the reference's."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from leaderless.proxy.resp import ErrorReply, SimpleString
from leaderless.proxy.scripting.host import UNKILLABLE
from leaderless.proxy.scripting.lua import LuaVM, sha1hex
from leaderless.proxy.state import script_host


class Commands:
    """Answers GET from a dict and SET into it; ERR for INCR of a non-number; records calls."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {b"str": b"abc"}
        self.requests: list[list[bytes]] = []

    def __call__(self, request: list[bytes]) -> object:
        self.requests.append(request)
        name = request[0].lower()
        if name == b"get":
            return self.data.get(request[1])
        if name == b"set":
            self.data[request[1]] = request[2]
            return SimpleString("OK")
        if name == b"hgetall":
            return {b"f": b"v"}
        return ErrorReply("ERR value is not an integer or out of range")


@pytest.fixture(scope="module")
def vm() -> LuaVM:
    return LuaVM(200, time.monotonic, "7.2.4", 0x070204)


def run(vm: LuaVM, body: str, keys: tuple[str, ...] = (), argv: tuple[str, ...] = ()) -> object:
    source = body.encode()
    return vm.run(
        sha1hex(source), source, [k.encode() for k in keys], [a.encode() for a in argv], Commands()
    )


def located(text: str, body: str, line: int = 1) -> ErrorReply:
    return ErrorReply(f"{text} script: {sha1hex(body.encode())}, on @user_script:{line}.")


@pytest.mark.parametrize(
    ("body", "text", "line"),
    [
        (
            "return x",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'x'",
            1,
        ),
        ("x = 1", "ERR user_script:1: Attempt to modify a readonly table", 1),
        ("redis.call = 1", "ERR user_script:1: Attempt to modify a readonly table", 1),
        ("string.foo = 1", "ERR user_script:1: Attempt to modify a readonly table", 1),
        (
            "return print",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'print'",
            1,
        ),
        ("error('boom')", "ERR user_script:1: boom", 1),
        ("error('x', 0)", "ERR x", 1),
        ("error({err='X boom'})", "X boom", 1),
        ("error({})", "ERR unknown error", 1),
        ("error(redis.error_reply('x'))", "ERR x", 1),
        ("\n\nreturn redis.call('incr','str')", "ERR value is not an integer or out of range", 3),
        (
            "local function f() return redis.call('incr','str') end\nreturn f()",
            "ERR value is not an integer or out of range",
            1,
        ),
        (
            "redis.setresp(3); return redis.call('incr', 'str')",
            "ERR value is not an integer or out of range",
            1,
        ),
        ("return redis.call()", "ERR Please specify at least one argument for this call", 1),
        ("return redis.call({})", "ERR Command arguments must be strings or integers", 1),
        ("return redis.setresp(4)", "ERR RESP version must be 2 or 3.", 1),
        ("return redis.sha1hex()", "ERR wrong number of arguments", 1),
        ("return redis.log(1)", "ERR server.log() requires two arguments or more.", 1),
    ],
)
def test_errors_carry_redis_texts_and_the_script_line(
    vm: LuaVM, body: str, text: str, line: int
) -> None:
    assert run(vm, body) == located(text, body, line)


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (
            "return redis.pcall('incr','str')",
            ErrorReply("ERR value is not an integer or out of range"),
        ),
        (
            "local ok, e = pcall(redis.call, 'incr', 'str'); return {type(e), e}",
            [b"string", b"ERR value is not an integer or out of range"],
        ),
        (
            "local ok, e = pcall(function() return y end); return e",
            b"user_script:1: Script attempted to access nonexistent global variable 'y'",
        ),
        ("return redis.error_reply('My Error')", ErrorReply("My Error")),
        ("return redis.error_reply(5)", ErrorReply("ERR wrong number or type of arguments")),
        ("return redis.status_reply('x')", SimpleString("x")),
        ("return {KEYS[1], ARGV[1], #KEYS, #ARGV}", [b"k", b"a", 1, 1]),
        ("return {redis.call('get', 'nope')}", [None]),
        ("redis.setresp(3); return redis.call('get', 'nope') == nil", 1),
        ("return redis.call('hgetall', 'h')", [b"f", b"v"]),
        ("redis.setresp(3); return redis.call('hgetall', 'h').map.f", b"v"),
        ("redis.call('set', 'n', 0.1); return redis.call('get', 'n')", b"0.1"),
        ("redis.call('set', 'n', 1e20); return redis.call('get', 'n')", b"1e+20"),
        ("return redis.sha1hex('')", b"da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}", [b"7.2.4", 459268]),
        ("return rawget(_G, 'x')", None),
        ("return bit.band(5, 3) + bit.bor(1, 2) * 10", 31),
        ("return bit.tohex(255)", b"000000ff"),
        ("return bit.tobit(2^32 + 1)", 1),
        ("return cjson.encode({1, 2, {a = 1}})", b'[1,2,{"a":1}]'),
        ("return cjson.encode({})", b"{}"),
        ("return cjson.encode('a/b\"')", b'"a\\/b\\""'),
        ("return cjson.decode('[1,2,{\"a\":1.5}]')[3].a", 1),
        ("return cjson.decode('[null]')[1] == cjson.null", 1),
    ],
)
def test_replies_match_the_reference(vm: LuaVM, body: str, reply: object) -> None:
    assert run(vm, body, ("k",), ("a",)) == reply


def test_a_script_that_does_not_compile() -> None:
    vm = LuaVM(200, time.monotonic, "7.2.4", 0)
    assert run(vm, "syntax error here") == ErrorReply(
        "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"
    )


def test_a_script_past_the_time_limit_is_stopped_and_its_pcall_cannot_hold_it(vm: LuaVM) -> None:
    killed = "ERR Script killed: it ran longer than the proxy's script time limit"
    started = time.monotonic()
    body = "while true do pcall(function() while true do end end) end"
    assert run(vm, body) == located(killed, body)
    assert 0.2 <= time.monotonic() - started < 5
    assert run(vm, "return 1") == 1


def test_the_python_bridge_is_out_of_reach(vm: LuaVM) -> None:
    for name in ("python", "debug", "require", "dofile", "loadfile", "getfenv", "setfenv"):
        body = f"return {name}"
        expected = (
            f"ERR user_script:1: Script attempted to access nonexistent global variable '{name}'"
        )
        assert run(vm, body) == located(expected, body)


def test_commands_receive_numbers_as_lua_writes_them() -> None:
    vm = LuaVM(200, time.monotonic, "7.2.4", 0)
    commands = Commands()
    vm.run("s", b"redis.call('set', 'k', 3, 2.5, 1e15)", [], [], commands)
    assert commands.requests == [[b"set", b"k", b"3", b"2.5", b"1e+15"]]


def test_no_script_can_change_what_the_next_one_finds(vm: LuaVM) -> None:
    for attempt in (
        "getmetatable('').__index.upper = nil",
        "getmetatable('').__index = {}",
        "rawset(string, 'upper', nil)",
        "rawset(_G, 'leaked', 1)",
        "rawset(redis, 'call', nil)",
        "setmetatable(_G, nil)",
    ):
        assert isinstance(run(vm, f"pcall(function() {attempt} end) return 1"), int)
    assert run(vm, "return {('x'):upper(), string.upper('y'), rawget(_G, 'leaked')}") == [
        b"X",
        b"Y",
    ]
    assert run(vm, "return redis.call('get', 'str')") == b"abc"


def test_a_script_that_wrote_cannot_be_killed() -> None:
    async def main() -> tuple[object, object]:
        host = script_host(300)
        written = threading.Event()

        def commands(request: list[bytes]) -> object:
            host.wrote()
            written.set()
            return SimpleString("OK")

        body = b"redis.call('set', 'w', '1') while true do end"
        running = asyncio.ensure_future(host.run(sha1hex(body), body, [], [], commands))
        await asyncio.get_running_loop().run_in_executor(None, written.wait, 5)
        refused = host.kill(function=False)
        return refused, await running

    refused, reply = asyncio.run(main())
    assert refused == UNKILLABLE
    assert isinstance(reply, ErrorReply) and "script time limit" in reply
