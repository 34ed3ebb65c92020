"""Function libraries as data: a library's metadata line, the record that replicates every
library, and the FUNCTION DUMP payload.

The libraries are replicated like any key: one record, `__leaderless:functions` in database 0
(replication/scripts.py's FUNCTIONS_KEY), holds the
code of every library, and FUNCTION LOAD, DELETE, FLUSH and RESTORE write it again whole
(last write wins, as for any record). Each proxy loads the libraries into its Lua VM from that
record, and loads them again when the record it reads has another version.

The DUMP payload is the proxy's own (Redis's is an RDB fragment, LZF-compressed): a magic, the
codes, and a checksum; RESTORE takes only such payloads.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from leaderless.proxy.resp import ErrorReply

_NAME = re.compile(rb"[A-Za-z0-9_]+")
_MAGIC = b"leaderless-functions\x01"
BAD_PAYLOAD = ErrorReply("ERR DUMP payload version or checksum are wrong")


@dataclass(frozen=True, slots=True)
class Function:
    name: bytes
    flags: tuple[bytes, ...]
    description: bytes | None


@dataclass(frozen=True, slots=True)
class Library:
    name: bytes
    code: bytes
    functions: tuple[Function, ...]


def valid_name(name: bytes) -> bool:
    return _NAME.fullmatch(name) is not None


def parse(code: bytes) -> tuple[bytes, bytes] | ErrorReply:
    """A library's name and the code Lua compiles (its metadata line emptied, so that lines
    keep their numbers), or Redis's error for its metadata."""
    if not code.startswith(b"#!"):
        return ErrorReply("ERR Missing library metadata")
    first = code.split(b"\n", 1)[0]
    engine, *fields = first[2:].split(b" ")
    if engine.lower() != b"lua":
        return _error(b"ERR Engine '" + engine + b"' not found")
    name = None
    for field in fields:
        key, equals, value = field.partition(b"=")
        if not field:
            continue
        if key != b"name" or not equals:
            return _error(b"ERR Invalid metadata value given: " + field)
        name = value
    if name is None:
        return ErrorReply("ERR Library name was not given")
    if not valid_name(name):
        return ErrorReply(
            "ERR Library names can only contain letters, numbers, or underscores(_) and must "
            "be at least one character long"
        )
    return name, code[len(first) :]


def _error(text: bytes) -> ErrorReply:
    return ErrorReply(text.decode("utf-8", "surrogateescape"))


def encode(codes: list[bytes]) -> bytes:
    """The record's value: each library's code, length first."""
    return b"".join(struct.pack(">I", len(code)) + code for code in codes)


def decode(value: bytes) -> list[bytes]:
    codes, offset = [], 0
    while offset < len(value):
        (length,) = struct.unpack_from(">I", value, offset)
        codes.append(value[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return codes


def dump(codes: list[bytes]) -> bytes:
    body = _MAGIC + encode(codes)
    return body + hashlib.blake2b(body, digest_size=8).digest()


def undump(payload: bytes) -> list[bytes] | ErrorReply:
    body, checksum = payload[:-8], payload[-8:]
    if not body.startswith(_MAGIC) or hashlib.blake2b(body, digest_size=8).digest() != checksum:
        return BAD_PAYLOAD
    try:
        return decode(body[len(_MAGIC) :])
    except struct.error:
        return BAD_PAYLOAD
