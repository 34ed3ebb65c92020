"""RESP codec: client requests in, replies out, in RESP2 or RESP3.

(Theory of operation to be written by the codec's author.)
"""

from __future__ import annotations

from dataclasses import dataclass


class SimpleString(str):
    """A status reply: `+OK` in both protocols."""


class ErrorReply(str):
    """An error reply; the text includes its code, e.g. `ERR syntax error` or `WRONGTYPE ...`."""


@dataclass(frozen=True, slots=True)
class Verbatim:
    """A verbatim string (RESP3 `=`), a bulk string in RESP2; `fmt` is three letters, e.g. txt."""

    fmt: str
    text: bytes


class NullArray:
    """`*-1` in RESP2 and `_` in RESP3: the null some commands answer as an array."""


NULL_ARRAY = NullArray()

# How Python values map to replies (see encode()):
#   bytes -> bulk string          None -> null ($-1 / _)
#   int -> integer                bool -> RESP3 boolean (#t/#f), RESP2 integer 1/0
#   float -> RESP3 double (,), RESP2 bulk string
#   list/tuple -> array           dict -> RESP3 map (%), RESP2 flat array of key, value, ...
#   set/frozenset -> RESP3 set (~), RESP2 array
#   str subclasses SimpleString/ErrorReply, Verbatim, NULL_ARRAY as documented above;
#   a plain str is encoded as a bulk string of its UTF-8 bytes.
Reply = object
