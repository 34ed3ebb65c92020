"""The RESP codec: requests decoded as Redis 6.2 does, replies encoded in RESP2 and RESP3.

Every decoding case runs whole, byte by byte, and followed by the start of another frame (h11's
tr()): the answer must not depend on how the input is cut.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leaderless.proxy.resp import (
    NULL_ARRAY,
    OK,
    ErrorReply,
    Limits,
    RequestDecoder,
    SetReply,
    SimpleString,
    Verbatim,
    encode,
)

Commands = list[list[bytes]]
NEXT_FRAME = b"*2\r\n$3\r\nGET\r\n$1\r"  # the start of a following frame, never complete
DEFAULT = Limits()
SMALL = Limits(max_bulk_bytes=10, max_args=3, max_inline_bytes=32)


def multibulk(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def decode(chunks: Iterator[bytes] | list[bytes], limits: Limits = DEFAULT) -> tuple:
    """Feed the chunks until an error; all commands and the error (or None)."""
    decoder = RequestDecoder(limits)
    commands: Commands = []
    for chunk in chunks:
        got, error = decoder.feed(chunk)
        commands += got
        if error is not None:
            return commands, error
    return commands, None


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def check(data: bytes, commands: Commands, error: str | None = None, limits: Limits = SMALL):
    assert decode([data], limits) == (commands, error)
    assert decode(bytewise(data), limits) == (commands, error)
    assert decode([data + NEXT_FRAME], limits) == (commands, error)
    assert decode([data, NEXT_FRAME], limits) == (commands, error)


# --- multibulk ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "commands"),
    [
        (multibulk(b"PING"), [[b"PING"]]),
        (
            multibulk(b"SET", b"k", b"v") + multibulk(b"GET", b"k"),
            [[b"SET", b"k", b"v"], [b"GET", b"k"]],
        ),
        (multibulk(b"ECHO", b"a\r\nb\r"), [[b"ECHO", b"a\r\nb\r"]]),
        (multibulk(b"ECHO", b""), [[b"ECHO", b""]]),
        (multibulk(b"ECHO", b"\x00\xff*3\r\n"), [[b"ECHO", b"\x00\xff*3\r\n"]]),
        # Counts <= 0 skip the frame.
        (b"*0\r\n*-1\r\n*-7\r\n" + multibulk(b"PING"), [[b"PING"]]),
        # Redis skips the byte after a header's CR and the two bytes after a payload unread.
        (b"*1\rX$4\rYPINGXY" + multibulk(b"PING"), [[b"PING"], [b"PING"]]),
        # A payload without its CRLF swallows two bytes of the next frame, which then reads as
        # inline lines, exactly as in Redis.
        (b"*1\r\n$4\r\nPING" + multibulk(b"PING"), [[b"PING"], [b"$4"], [b"PING"]]),
        # At the limits exactly.
        (multibulk(b"a", b"b", b"0123456789"), [[b"a", b"b", b"0123456789"]]),
    ],
)
def test_multibulk(data: bytes, commands: Commands) -> None:
    check(data, commands)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"*abc\r\n", "invalid multibulk length"),
        (b"*\r\n", "invalid multibulk length"),
        (b"*-0\r\n", "invalid multibulk length"),
        (b"*01\r\n", "invalid multibulk length"),
        (b"*+1\r\n", "invalid multibulk length"),
        (b"*1 \r\n", "invalid multibulk length"),
        (b"*4\r\n", "invalid multibulk length"),  # over max_args=3, before any argument
        (b"*99999999999999999999\r\n", "invalid multibulk length"),
        (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
        (b"*1\r\n:1\r\n", "expected '$', got ':'"),
        (b"*1\r\n*1\r\n$1\r\nx\r\n", "expected '$', got '*'"),
        (b"*1\r\n\n\r\n", "expected '$', got ' '"),
        (b"*1\r\n\r\r\n", "expected '$', got ' '"),
        (b"*1\r\n\xff\r\n", "expected '$', got '\xff'"),
        (b"*1\r\n$x\r\n", "invalid bulk length"),
        (b"*1\r\n$-1\r\n", "invalid bulk length"),
        (b"*1\r\n$\r\n", "invalid bulk length"),
        (b"*1\r\n$04\r\n", "invalid bulk length"),
        (b"*1\r\n$11\r\n", "invalid bulk length"),  # over max_bulk_bytes=10, before the payload
        (b"*1\r\n$999999999999\r\n", "invalid bulk length"),
        (b"*" + b"1" * 33, "too big mbulk count string"),
        (b"*1\r\n$" + b"1" * 32, "too big bulk count string"),
        # Like Redis's strchr, a NUL hides the CR after it: the header never ends.
        (b"*1\x00\r\n" + b"x" * 28, "too big mbulk count string"),
    ],
)
def test_multibulk_errors(data: bytes, error: str) -> None:
    check(data, [], "Protocol error: " + error)


def test_commands_before_an_error_are_returned() -> None:
    data = multibulk(b"PING") + b"*1\r\n$x\r\n" + multibulk(b"PING")
    check(data, [[b"PING"]], "Protocol error: invalid bulk length")


def test_headers_at_the_inline_limit_are_not_too_big() -> None:
    limits = Limits(max_inline_bytes=8)
    check(b"*0000001\r\n", [], "Protocol error: invalid multibulk length", limits)
    check(b"*000001\r\n", [], "Protocol error: invalid multibulk length", limits)
    check(b"*00000001\r\n", [], "Protocol error: too big mbulk count string", limits)


def test_announced_sizes_fail_before_the_payload_arrives() -> None:
    decoder = RequestDecoder()
    assert decoder.feed(b"*1\r\n$999999999999\r\n") == ([], "Protocol error: invalid bulk length")
    decoder = RequestDecoder()
    assert decoder.feed(b"*99999999\r\n") == ([], "Protocol error: invalid multibulk length")


def test_a_resp3_map_inside_a_request_is_a_protocol_error() -> None:
    check(b"*1\r\n%1\r\n%0\r\n+a\r\n", [], "Protocol error: expected '$', got '%'")


def test_a_dead_decoder_repeats_its_error() -> None:
    decoder = RequestDecoder()
    assert decoder.feed(b"*x\r\n") == ([], "Protocol error: invalid multibulk length")
    assert decoder.feed(multibulk(b"PING")) == ([], "Protocol error: invalid multibulk length")


def test_large_value_in_many_reads() -> None:
    value = bytes(range(256)) * 4096  # 1 MiB, CR and LF included
    data = multibulk(b"SET", b"k", value) + multibulk(b"GET", b"k")
    chunks = [data[i : i + 4093] for i in range(0, len(data), 4093)]
    assert decode(chunks) == ([[b"SET", b"k", value], [b"GET", b"k"]], None)


def test_many_arguments_in_many_reads() -> None:
    args = [b"MSET", *(b"k%d" % i for i in range(5000))]
    data = multibulk(*args)
    chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert decode(chunks) == ([args], None)


# --- inline ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "commands"),
    [
        (b"PING\r\n", [[b"PING"]]),
        (b"PING\n", [[b"PING"]]),
        (b"PING\r\r\n", [[b"PING"]]),
        (b"\r\n\n  \t \r\nPING\r\n", [[b"PING"]]),
        (b"SET  k\tv \r\n", [[b"SET", b"k", b"v"]]),
        (b"ECHO \"a b\" 'c d'\r\n", [[b"ECHO", b"a b", b"c d"]]),
        (b'ECHO "\\x41\\x4g\\n\\r\\t\\b\\a\\"\\\\\\q"\r\n', [[b"ECHO", b'Ax4g\n\r\t\b\a"\\q']]),
        (b"ECHO 'it\\'s' '\\n'\r\n", [[b"ECHO", b"it's", b"\\n"]]),
        (b'ECHO a"b c"\r\n', [[b"ECHO", b"ab c"]]),
        (b'ECHO ""\r\n', [[b"ECHO", b""]]),
        (b"ECHO a\x0bb\x0c\r\n", [[b"ECHO", b"a\x0bb\x0c"]]),  # \v, \f do not end a token
        (b"$4\r\n", [[b"$4"]]),
        (b"PING\r\n" + multibulk(b"PING") + b"PING\n", [[b"PING"]] * 3),
    ],
)
def test_inline(data: bytes, commands: Commands) -> None:
    check(data, commands)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'ECHO "abc\r\n', "unbalanced quotes in request"),
        (b"ECHO 'abc\r\n", "unbalanced quotes in request"),
        (b'ECHO "abc"d\r\n', "unbalanced quotes in request"),
        (b"ECHO 'abc'd\r\n", "unbalanced quotes in request"),
        (b'ECHO "abc\\"\r\n', "unbalanced quotes in request"),
        (b"PING " + b"a" * 28, "too big inline request"),
        (b"ECHO a\x00b\r\nPING\r\n" + b"x" * 17, "too big inline request"),
    ],
)
def test_inline_errors(data: bytes, error: str) -> None:
    check(data, [], "Protocol error: " + error)


def test_inline_line_at_the_limit() -> None:
    check(b"ECHO " + b"a" * 27 + b"\n", [[b"ECHO", b"a" * 27]])
    check(b"ECHO " + b"a" * 28 + b"\n", [], "Protocol error: too big inline request")


# --- properties -----------------------------------------------------------------------------

PROTOCOL_BYTES = st.sampled_from(
    [
        b"*",
        b"$",
        b"\r",
        b"\n",
        b"\r\n",
        b"0",
        b"1",
        b"2",
        b"3",
        b"-",
        b" ",
        b'"',
        b"'",
        b"\\",
        b"x",
        b"\x00",
        b":",
        b"%",
        b"~",
        b">",
        b"+",
        b"PING",
        b"*1\r\n",
        b"$1\r\n",
        b"*0\r\n",
    ]
)
LIMITS = st.sampled_from([SMALL, Limits()])

# Every RESP3 type, whole: a request may only hold bulk strings, so each is a protocol error.
RESP3_VALUES = [
    b"%1\r\n%0\r\n+a\r\n",
    b"%1\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"~1\r\n%0\r\n",
    b"~2\r\n+a\r\n+a\r\n",
    b"|1\r\n+a\r\n+b\r\n$1\r\nc\r\n",
    b">1\r\n+a\r\n",
    b",1.5\r\n",
    b",inf\r\n",
    b",nan\r\n",
    b"#t\r\n",
    b"#f\r\n",
    b"(12345678901234567890\r\n",
    b"=7\r\ntxt:abc\r\n",
    b"_\r\n",
    b"!3\r\nerr\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
]


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@settings(max_examples=400, deadline=None)
@given(
    st.data(),
    st.lists(PROTOCOL_BYTES | st.sampled_from(RESP3_VALUES) | st.binary(max_size=6), max_size=40),
    LIMITS,
)
def test_any_input_in_any_chunking_gives_the_same_commands_or_one_error(
    data: st.DataObject, pieces: list[bytes], limits: Limits
) -> None:
    stream = b"".join(pieces)
    commands, error = decode([stream], limits)  # any other exception fails the test
    assert error is None or error.startswith("Protocol error: ")
    assert all(isinstance(arg, bytes) for command in commands for arg in command)
    assert decode(data.draw(chunked(stream)), limits) == (commands, error)
    assert decode(bytewise(stream), limits) == (commands, error)


COMMANDS = st.lists(st.lists(st.binary(max_size=20), min_size=1, max_size=6), max_size=10)


@settings(max_examples=300, deadline=None)
@given(st.data(), COMMANDS)
def test_multibulk_round_trip(data: st.DataObject, commands: Commands) -> None:
    stream = b"".join(multibulk(*command) for command in commands)
    assert decode(data.draw(chunked(stream))) == (commands, None)


# --- encode ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "resp2", "resp3"),
    [
        (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
        (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
        (None, b"$-1\r\n", b"_\r\n"),
        (0, b":0\r\n", b":0\r\n"),
        (-12, b":-12\r\n", b":-12\r\n"),
        (True, b":1\r\n", b"#t\r\n"),
        (False, b":0\r\n", b"#f\r\n"),
        (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
        (3.0, b"$1\r\n3\r\n", b",3\r\n"),
        (1e300, b"$23\r\n1.0000000000000001e+300\r\n", b",1.0000000000000001e+300\r\n"),
        (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
        (float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n"),
        (SimpleString("OK"), OK, OK),
        (SimpleString("a\r\nb"), b"+a  b\r\n", b"+a  b\r\n"),
        (ErrorReply("ERR syntax error"), b"-ERR syntax error\r\n", b"-ERR syntax error\r\n"),
        (ErrorReply("ERR a\nb"), b"-ERR a b\r\n", b"-ERR a b\r\n"),
        ("h\xe9", b"$3\r\nh\xc3\xa9\r\n", b"$3\r\nh\xc3\xa9\r\n"),
        (Verbatim("txt", b"hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
        (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
        ([], b"*0\r\n", b"*0\r\n"),
        ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
        (
            (b"a", [b"b", []]),
            b"*2\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n*0\r\n",
            b"*2\r\n$1\r\na\r\n*2\r\n$1\r\nb\r\n*0\r\n",
        ),
        (
            {b"k": 1, b"j": [True]},
            b"*4\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n*1\r\n:1\r\n",
            b"%2\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n*1\r\n#t\r\n",
        ),
        (SetReply((b"m", b"a")), b"*2\r\n$1\r\nm\r\n$1\r\na\r\n", b"~2\r\n$1\r\nm\r\n$1\r\na\r\n"),
        (SetReply(), b"*0\r\n", b"~0\r\n"),
    ],
)
def test_encode(reply: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(reply, 2) == resp2
    assert encode(reply, 3) == resp3


@pytest.mark.parametrize("reply", [object(), [object()], {b"k": 1.5j}, {b"unordered"}])
def test_encode_rejects_other_values(reply: object) -> None:
    with pytest.raises(TypeError):
        encode(reply, 2)


# --- against the real server ----------------------------------------------------------------

REDIS_ERROR_CASES = [
    b"*abc\r\n",
    b"*-0\r\n",
    b"*1\r\n+PING\r\n",
    b"*1\r\n\n\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$04\r\n",
    b"*1\r\n$536870913\r\n",
    b"*" + b"1" * 70000,
    b"*1\r\n$" + b"1" * 70000,
    b"PING " + b"a" * 70000,
    b'ECHO "abc\r\n',
    b"ECHO 'a'b\r\n",
    *(b"*2\r\n$4\r\nECHO\r\n" + value for value in RESP3_VALUES),
]


@pytest.mark.integration
@pytest.mark.parametrize("data", REDIS_ERROR_CASES)
def test_error_texts_match_redis(shared_reference, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", shared_reference.port), timeout=10) as conn:
        conn.sendall(data)
        answer = b""
        with contextlib.suppress(ConnectionResetError):  # it may close with input unread
            while chunk := conn.recv(65536):  # Redis closes the connection after the error
                answer += chunk
    _, error = RequestDecoder().feed(data)
    assert answer == b"-ERR %b\r\n" % error.encode("latin-1")
