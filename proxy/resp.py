"""RESP codec: client requests in, replies out, in RESP2 or RESP3.

Theory of operation. `RequestDecoder.feed(bytes)` returns the complete commands so far and, once
the input is invalid, Redis 6.2's protocol error text (networking.c: processMultibulkBuffer,
processInlineBuffer, sdssplitargs). hiredis is the parser; a Python guard decides what hiredis
may see and whether its answer is what Redis would have parsed, because hiredis reads *replies*:
it accepts `+`, `:`, nested arrays, `*-1` and RESP3 types inside a request, it allocates a
`*N` array before its elements arrive, and it never limits a length.

- Fast path, at a frame boundary: one regex pass sums every `*N`-like count in the chunk (so
  hiredis never allocates more than `max_args` slots), hiredis parses the whole chunk, and the
  frames it returns are accepted only if their canonical encoding (`*N`, `$len`, CRLF) is
  byte-for-byte a prefix of the chunk. Canonical multibulk means the same thing to Redis and
  hiredis, so that one comparison stands in for checking every header in Python.
- Exact path: whatever the fast path does not vouch for (a frame cut by the end of the read,
  inline commands, odd but valid frames such as a bare CR after a header, errors) is walked by
  a header-by-header state machine with Redis's exact rules and limits, which checks each header
  *before* its payload is buffered. It feeds hiredis the frame with canonical headers and
  terminators and takes the parsed frame from hiredis once the frame is complete; payload bytes
  stream straight through, so a large value costs O(1) Python work per read. Inline commands
  (which hiredis cannot read) are split in Python like sdssplitargs.
A chunk gets at most one fast attempt, so odd input costs linear time too. Errors are
independent of how the input is chunked (Redis's 64 KiB header and inline limits count the
bytes before the line's end, whatever the reads were); like Redis's strchr, a NUL before a
header's CR or an inline line's LF means the line never ends.

`encode(reply, protocol)` renders a reply value (mapping below) in RESP2 or RESP3.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import hiredis


class SimpleString(str):
    """A status reply: `+OK` in both protocols."""


class ErrorReply(str):
    """An error reply; the text includes its code, e.g. `ERR syntax error` or `WRONGTYPE ...`."""


@dataclass(frozen=True, slots=True)
class Verbatim:
    """A verbatim string (RESP3 `=`), a bulk string in RESP2; `fmt` is three letters, e.g. txt."""

    fmt: str
    text: bytes


class SetReply(tuple[object, ...]):
    """A set (RESP3 `~`), an array in RESP2; a tuple so that its order is the one Redis sends."""


class NullArray:
    """`*-1` in RESP2 and `_` in RESP3: the null some commands answer as an array."""


NULL_ARRAY = NullArray()

# How Python values map to replies (see encode()):
#   bytes -> bulk string          None -> null ($-1 / _)
#   int -> integer                bool -> RESP3 boolean (#t/#f), RESP2 integer 1/0
#   float -> RESP3 double (,), RESP2 bulk string
#   list/tuple -> array           dict -> RESP3 map (%), RESP2 flat array of key, value, ...
#   SetReply -> RESP3 set (~), RESP2 array (ordered, unlike a Python set)
#   str subclasses SimpleString/ErrorReply, Verbatim, NULL_ARRAY as documented above;
#   a plain str is encoded as a bulk string of its UTF-8 bytes.
Reply = object

OK = b"+OK\r\n"
NULL_BULK = b"$-1\r\n"
NULL_ARRAY_RESP2 = b"*-1\r\n"
NULL = b"_\r\n"


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may announce; Redis's defaults (proto-max-bulk-len, its 1M multibulk
    cap, PROTO_INLINE_MAX_SIZE for an inline request or an unterminated header)."""

    max_bulk_bytes: int = 512 * 1024 * 1024
    max_args: int = 1024 * 1024
    max_inline_bytes: int = 64 * 1024


class _ProtocolError(Exception):
    """Raised inside the decoder; feed() turns it into its error result."""


_CRLF = b"\r\n"
_STAR, _DOLLAR, _CR, _LF, _NUL = 42, 36, 13, 10, 0
_HEADER_TABLE = 1024
_BULK_HEADERS = [b"$%d\r\n" % n for n in range(_HEADER_TABLE)]
_MULTI_HEADERS = [b"*%d\r\n" % n for n in range(_HEADER_TABLE)]
# Every header hiredis could take for an aggregate (array, map, set, push, attribute) with a
# count it would accept (longer numbers fail its string2ll): the other type bytes are mapped to
# `*` first, which lets the regex engine scan for one literal byte.
_AGGREGATE_TYPES = bytes.maketrans(b"%~>|", b"****")
_AGGREGATE_HEADER = re.compile(rb"\*([0-9]{1,19})\r\n")
_LLONG_MAX = 2**63 - 1


def _string2ll(text: bytes | bytearray) -> int | None:
    """Redis's strict string2ll: optional '-', no '+', spaces or leading zeros, 64-bit."""
    if not text or len(text) >= 21:
        return None
    if text == b"0":
        return 0
    digits = text[1:] if text[0] == 45 else text
    if not digits or not 49 <= digits[0] <= 57 or not digits.isdigit():
        return None
    value = int(digits)
    if digits is text:
        return value if value <= _LLONG_MAX else None
    return -value if value <= _LLONG_MAX + 1 else None


_SPACES = frozenset(b" \t\n\v\f\r")  # C isspace()
_TOKEN_ENDS = frozenset(b" \n\r\t")  # where sdssplitargs ends an unquoted token
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_NEEDS_SPLITARGS = re.compile(rb"[\"'\v\f]")


def split_inline(line: bytes) -> list[bytes] | None:
    """sdssplitargs: split an inline request (without its newline, no NUL) into arguments;
    None for unbalanced quotes (or a closing quote not followed by a space)."""
    if not _NEEDS_SPLITARGS.search(line):
        return line.split()
    args: list[bytes] = []
    end = len(line)
    p = 0

    def at(i: int) -> int:
        return line[i] if i < end else 0  # the C string's terminating NUL

    while True:
        while p < end and line[p] in _SPACES:
            p += 1
        if p == end:
            return args
        token = bytearray()
        in_double = in_single = False
        while True:
            c = at(p)
            if in_double:
                if c == 92 and at(p + 1) == 120 and at(p + 2) in _HEX and at(p + 3) in _HEX:
                    token.append(int(line[p + 2 : p + 4], 16))
                    p += 3
                elif c == 92 and at(p + 1):
                    p += 1
                    token.append(_ESCAPES.get(line[p], line[p]))
                elif c == 34:
                    if at(p + 1) and at(p + 1) not in _SPACES:
                        return None
                    p += 1
                    break
                elif not c:
                    return None
                else:
                    token.append(c)
            elif in_single:
                if c == 92 and at(p + 1) == 39:
                    p += 1
                    token.append(39)
                elif c == 39:
                    if at(p + 1) and at(p + 1) not in _SPACES:
                        return None
                    p += 1
                    break
                elif not c:
                    return None
                else:
                    token.append(c)
            elif not c or c in _TOKEN_ENDS:
                break
            elif c == 34:
                in_double = True
            elif c == 39:
                in_single = True
            else:
                token.append(c)
            p += 1
        args.append(bytes(token))


class RequestDecoder:
    """Client requests in (any chunking), commands out; see the module docstring."""

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self._table_limit = min(_HEADER_TABLE, self._limits.max_bulk_bytes + 1)
        self._reader = hiredis.Reader()
        self._error: str | None = None
        # The exact path's state. Payload bytes are never kept here: they go to hiredis.
        self._buf = bytearray()  # unconsumed header or inline bytes
        self._args_left = 0  # bulk arguments still expected in the current multibulk frame
        self._bulk_left = -1  # payload + CRLF bytes still expected; -1: a `$` header is next
        self._scanned = 0  # bytes after the line's start already searched for its end
        self._stalled = False  # a NUL came before the line's end: it can never end

    def feed(self, data: bytes) -> tuple[list[list[bytes]], str | None]:
        """Every command completed by `data`, and the protocol error text if the input became
        invalid (after the commands before it). A decoder that reported an error is dead and
        answers every later feed with the same error."""
        if self._error is not None:
            return [], self._error
        commands: list[list[bytes]] = []
        try:
            if self._buf or self._args_left:
                data = self._walk(data, commands, stop_at_boundary=True)
            if data[:1] == b"*":
                data = data[self._take_verified(data, commands) :]
            if data:
                self._walk(data, commands, stop_at_boundary=False)
        except _ProtocolError as error:
            self._error = str(error)
            self._buf = bytearray()
            self._reader = hiredis.Reader()
        return commands, self._error

    def _take_verified(self, data: bytes, commands: list[list[bytes]]) -> int:
        """The fast path: returns how many leading bytes of `data` hiredis parsed into frames
        that are exactly canonical; leaves hiredis in step with the rest."""
        if (
            sum(map(int, _AGGREGATE_HEADER.findall(data.translate(_AGGREGATE_TYPES))))
            > self._limits.max_args
        ):
            return 0
        self._reader.feed(data)
        frames: list[list[bytes]] = []
        try:
            while type(frame := self._reader.gets()) is list:
                frames.append(frame)
        except (hiredis.ProtocolError, TypeError, ValueError):
            # A RESP3 type inside a request (a map with a map for a key is unhashable); the
            # exact path gives Redis's error for it.
            pass
        canonical = self._canonical(frames)
        used = len(canonical) if canonical is not None and data.startswith(canonical) else 0
        if used != len(data):
            self._reader = hiredis.Reader()
        if used:
            commands.extend(frame for frame in frames if frame)  # `*0` is skipped, as by Redis
        return used

    def _canonical(self, frames: list[list[bytes]]) -> bytes | None:
        """The canonical multibulk encoding of `frames`; None if one is not a list of bytes
        (len() or join() raises TypeError) or a value exceeds max_bulk_bytes."""
        parts: list[bytes] = []
        append = parts.append
        table_limit = self._table_limit
        try:
            for frame in frames:
                count = len(frame)
                append(_MULTI_HEADERS[count] if count < _HEADER_TABLE else b"*%d\r\n" % count)
                for arg in frame:
                    size = len(arg)
                    if size < table_limit:
                        append(_BULK_HEADERS[size])
                    elif size <= self._limits.max_bulk_bytes:
                        append(b"$%d\r\n" % size)
                    else:
                        return None
                    append(arg)
                    append(_CRLF)
            return b"".join(parts)
        except TypeError:
            return None

    def _walk(self, data: bytes, commands: list[list[bytes]], *, stop_at_boundary: bool) -> bytes:
        """The exact path. Consumes `data`; with stop_at_boundary, stops at the first frame
        boundary reached and returns the bytes after it."""
        if not self._buf and self._bulk_left - 2 >= len(data):
            self._reader.feed(data)  # the middle of a large value
            self._bulk_left -= len(data)
            return b""
        buf = self._buf
        buf += data
        pos = 0
        while True:
            if not self._args_left:
                if stop_at_boundary and pos:
                    rest = bytes(buf[pos:])
                    self._buf = bytearray()
                    return rest
                if pos == len(buf):
                    break
                if buf[pos] == _STAR:
                    end = self._line_end(buf, pos, _CR, "too big mbulk count string")
                    if end < 0:
                        break
                    count = _string2ll(buf[pos + 1 : end])
                    if count is None or count > self._limits.max_args:
                        raise _ProtocolError("Protocol error: invalid multibulk length")
                    pos = end + 2
                    if count > 0:
                        self._args_left = count
                        self._reader.feed(b"*%d\r\n" % count)
                else:
                    end = self._line_end(buf, pos, _LF, "too big inline request")
                    if end < 0:
                        break
                    line_end = end - 1 if end > pos and buf[end - 1] == _CR else end
                    args = split_inline(bytes(buf[pos:line_end]))
                    if args is None:
                        raise _ProtocolError("Protocol error: unbalanced quotes in request")
                    pos = end + 1
                    if args:
                        commands.append(args)
            elif self._bulk_left < 0:
                end = self._line_end(buf, pos, _CR, "too big bulk count string")
                if end < 0:
                    break
                if buf[pos] != _DOLLAR:
                    got = " " if buf[pos] in (_CR, _LF) else chr(buf[pos])
                    raise _ProtocolError(f"Protocol error: expected '$', got '{got}'")
                size = _string2ll(buf[pos + 1 : end])
                if size is None or size < 0 or size > self._limits.max_bulk_bytes:
                    raise _ProtocolError("Protocol error: invalid bulk length")
                pos = end + 2
                self._bulk_left = size + 2
                self._reader.feed(b"$%d\r\n" % size)
            else:
                if pos == len(buf):
                    break
                take = min(self._bulk_left, len(buf) - pos)
                payload = min(take, self._bulk_left - 2)
                if payload > 0:
                    self._reader.feed(buf, pos, payload)  # type: ignore[arg-type]  # any buffer
                pos += take
                self._bulk_left -= take
                if self._bulk_left:
                    break
                # Redis skips the two bytes after a payload unread; hiredis gets a real CRLF.
                self._reader.feed(_CRLF)
                self._bulk_left = -1
                self._args_left -= 1
                if not self._args_left:
                    commands.append(self._reader.gets())
        del buf[:pos]
        return b""

    def _line_end(self, buf: bytearray, pos: int, delimiter: int, too_big: str) -> int:
        """Where the line starting at `pos` ends (its CR or LF); -1 while more input is needed.
        A header also needs the byte after its CR (Redis skips it unread)."""
        limit = self._limits.max_inline_bytes
        start = pos + self._scanned
        end = -1 if self._stalled else buf.find(delimiter, start)
        if not self._stalled and buf.find(_NUL, start, end if end >= 0 else len(buf)) >= 0:
            self._stalled = True
            end = -1
        if end < 0:
            if len(buf) - pos > limit:
                raise _ProtocolError("Protocol error: " + too_big)
            self._scanned = len(buf) - pos
            return -1
        if end - pos > limit:
            raise _ProtocolError("Protocol error: " + too_big)
        if delimiter == _CR and end + 1 == len(buf):
            self._scanned = end - pos
            return -1
        self._scanned = 0
        return end


def encode(reply: Reply, protocol: int) -> bytes:
    """The reply in RESP2 (protocol=2) or RESP3 (protocol=3); TypeError for other values.
    The common replies come first: each costs a few isinstance checks and one format."""
    if isinstance(reply, bytes):
        return b"$%d\r\n%b\r\n" % (len(reply), reply)
    if reply is None:
        return NULL if protocol == 3 else NULL_BULK
    if isinstance(reply, SimpleString):
        return b"+%b\r\n" % _line(reply)
    if isinstance(reply, ErrorReply):
        return b"-%b\r\n" % _line(reply)
    if isinstance(reply, bool):
        return (b"#t\r\n" if reply else b"#f\r\n") if protocol == 3 else b":%d\r\n" % reply
    if isinstance(reply, int):
        return b":%d\r\n" % reply
    if isinstance(reply, str):
        return encode(reply.encode(), protocol)
    if isinstance(reply, float):
        text = b"%.17g" % reply  # as Redis 6.2's addReplyDouble; gives inf, -inf and nan too
        return b",%b\r\n" % text if protocol == 3 else b"$%d\r\n%b\r\n" % (len(text), text)
    if isinstance(reply, Verbatim):
        if protocol == 3:
            return b"=%d\r\n%b:%b\r\n" % (len(reply.text) + 4, reply.fmt.encode(), reply.text)
        return encode(reply.text, protocol)
    if reply is NULL_ARRAY:
        return NULL if protocol == 3 else NULL_ARRAY_RESP2
    parts: list[bytes] = []
    _encode_aggregate(parts, reply, protocol)
    return b"".join(parts)


def _line(text: str) -> bytes:
    """A status or error line: CR and LF become spaces (as Redis's addReplyErrorFormat does), so
    the reply stays one line."""
    if "\r" in text or "\n" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return text.encode("utf-8", "surrogateescape")


_AGGREGATES = (list, tuple, dict)


def _encode_aggregate(parts: list[bytes], reply: Reply, protocol: int) -> None:
    items: Iterable[Reply]
    if isinstance(reply, SetReply):
        parts.append(b"~%d\r\n" % len(reply) if protocol == 3 else b"*%d\r\n" % len(reply))
        items = reply
    elif isinstance(reply, list | tuple):
        parts.append(b"*%d\r\n" % len(reply))
        items = reply
    elif isinstance(reply, dict):
        parts.append(b"%%%d\r\n" % len(reply) if protocol == 3 else b"*%d\r\n" % (2 * len(reply)))
        items = chain.from_iterable(reply.items())
    else:
        raise TypeError(f"cannot encode {type(reply).__name__} as a RESP reply")
    for item in items:
        if isinstance(item, _AGGREGATES):
            _encode_aggregate(parts, item, protocol)
        else:
            parts.append(encode(item, protocol))
