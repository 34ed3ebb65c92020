"""Reading Redis arguments and writing Redis's errors, as Redis 7.2 does both.

Error texts built from client bytes follow Redis's formatting: each `%s` stops at a NUL byte,
CR and LF become spaces, and bytes that are not UTF-8 are kept through the `surrogateescape`
error handler (encode the text with `.encode("utf-8", "surrogateescape")` to get them back).
"""

from __future__ import annotations

from leaderless.proxy.resp import ErrorReply

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)

SYNTAX_ERROR = ErrorReply("ERR syntax error")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
NOAUTH = ErrorReply("NOAUTH Authentication required.")
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
