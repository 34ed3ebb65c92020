"""Reading Redis arguments and writing Redis's errors, as Redis 7.2 does both.

Error texts built from client bytes follow Redis's formatting: each `%s` stops at a NUL byte,
CR and LF become spaces, and bytes that are not UTF-8 are kept through the `surrogateescape`
error handler (encode the text with `.encode("utf-8", "surrogateescape")` to get them back).
"""

from __future__ import annotations

from leaderless.proxy.resp import ErrorReply
from leaderless.replication.databases import DATABASES

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)

SYNTAX_ERROR = ErrorReply("ERR syntax error")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
NOAUTH = ErrorReply("NOAUTH Authentication required.")
INT_OUT_OF_RANGE = ErrorReply(
    f"ERR value is out of range, value must between {INT_MIN} and {INT_MAX}"
)
DB_OUT_OF_RANGE = ErrorReply("ERR DB index is out of range")
OFFSET_OUT_OF_RANGE = ErrorReply("ERR offset is out of range")
STRING_TOO_LONG = ErrorReply("ERR string exceeds maximum allowed size (proto-max-bulk-len)")

PROTO_MAX_BULK_LEN = 512 * 1024 * 1024
"""Redis's default proto-max-bulk-len, which also bounds the strings APPEND and SETRANGE make
and the table LCS builds."""


def c_string(arg: bytes) -> bytes:
    """What a C `%s` prints of a Redis argument: everything before the first NUL byte."""
    return arg.split(b"\x00", 1)[0]


def token(arg: bytes) -> bytes:
    """An option or subcommand as Redis's strcasecmp sees it: up to a NUL, case folded."""
    return c_string(arg).upper()


def format_error(text: bytes) -> ErrorReply:
    """An error built from client bytes, made safe the way Redis's addReplyErrorFormat does."""
    return ErrorReply(
        text.replace(b"\r", b" ").replace(b"\n", b" ").decode("utf-8", "surrogateescape")
    )


def unknown_command_error(args: list[bytes]) -> ErrorReply:
    """The reply to an unknown command: the name (up to 128 bytes), then each argument quoted
    while the listing is under 128 bytes, each cut so that the listing stops at 128 bytes."""
    listing = b""
    for arg in args[1:]:
        if len(listing) >= 128:
            break
        listing += b"'" + c_string(arg)[: 128 - len(listing)] + b"' "
    return format_error(
        b"ERR unknown command '"
        + c_string(args[0])[:128]
        + b"', with args beginning with: "
        + listing
    )


def unknown_subcommand_error(args: list[bytes]) -> ErrorReply:
    return format_error(
        b"ERR unknown subcommand '"
        + c_string(args[1])[:128]
        + b"'. Try "
        + c_string(args[0]).upper()
        + b" HELP."
    )


def arity_error(name: str) -> ErrorReply:
    return ErrorReply(f"ERR wrong number of arguments for '{name}' command")


def invalid_expire_error(name: str) -> ErrorReply:
    return ErrorReply(f"ERR invalid expire time in '{name}' command")


def parse_int(arg: bytes) -> int | ErrorReply:
    """Redis's getIntFromObjectOrReply: a string2ll integer within the C int range."""
    value = parse_long_long(arg)
    if value is None:
        return NOT_AN_INTEGER
    return value if INT_MIN <= value <= INT_MAX else INT_OUT_OF_RANGE


def parse_database(arg: bytes, invalid: ErrorReply | None = None) -> int | ErrorReply:
    """A database index as Redis reads one: an int (`invalid` replaces the error if it is
    not one), then within 0 to DATABASES - 1."""
    index = parse_int(arg)
    if isinstance(index, ErrorReply):
        return index if invalid is None else invalid
    return index if 0 <= index < DATABASES else DB_OUT_OF_RANGE


def parse_long_long(arg: bytes) -> int | None:
    """Redis's string2ll: an optional '-', digits without a leading zero, no spaces or '+',
    within the signed 64-bit range; None otherwise."""
    digits = arg[1:] if arg.startswith(b"-") else arg
    if arg == b"0":
        return 0
    if not digits.isdigit() or not digits.isascii() or digits.startswith(b"0"):
        return None
    value = int(arg)
    return value if LLONG_MIN <= value <= LLONG_MAX else None


def string_match(pattern: bytes, string: bytes, *, nocase: bool = False) -> bool:
    """Redis's glob match (stringmatchlen): `*`, `?`, `[...]` with `^` and ranges, `\\`
    escapes; a `[` left open matches as the set it has so far."""
    return _match(pattern, 0, string, 0, nocase, [False], 0)


def _at(data: bytes, index: int) -> int:
    """The byte at `index`, or 0 past the end (where C finds the terminating NUL)."""
    return data[index] if index < len(data) else 0


def _fold(byte: int, nocase: bool) -> int:
    return byte | 0x20 if nocase and 0x41 <= byte <= 0x5A else byte


def _match(
    p: bytes, i: int, s: bytes, j: int, nocase: bool, give_up: list[bool], depth: int
) -> bool:
    if depth > 1000:
        return False
    while i < len(p) and j < len(s):
        char = p[i]
        if char == 0x2A:  # '*'
            while i + 1 < len(p) and p[i + 1] == 0x2A:
                i += 1
            if i + 1 == len(p):
                return True
            while j < len(s):
                if _match(p, i + 1, s, j, nocase, give_up, depth + 1):
                    return True
                if give_up[0]:
                    return False
                j += 1
            give_up[0] = True
            return False
        if char == 0x3F:  # '?'
            j += 1
        elif char == 0x5B:  # '['
            i += 1
            negate = _at(p, i) == 0x5E
            if negate:
                i += 1
            found = False
            target = _fold(s[j], nocase)
            while True:
                if _at(p, i) == 0x5C and len(p) - i >= 2:
                    i += 1
                    found = found or p[i] == s[j]
                elif _at(p, i) == 0x5D:
                    break
                elif i >= len(p):
                    i -= 1
                    break
                elif len(p) - i >= 3 and p[i + 1] == 0x2D:
                    low, high = sorted((p[i], p[i + 2]))
                    low, high = _fold(low, nocase), _fold(high, nocase)
                    i += 2
                    found = found or low <= target <= high
                else:
                    found = found or _fold(p[i], nocase) == target
                i += 1
            if found == negate:
                return False
            j += 1
        else:
            if char == 0x5C and len(p) - i >= 2:  # '\\'
                i += 1
            if _fold(p[i], nocase) != _fold(s[j], nocase):
                return False
            j += 1
        i += 1
        if j == len(s):
            while _at(p, i) == 0x2A:
                i += 1
            break
    return i >= len(p) and j == len(s)
