"""The command table: a client request (a list of bulk strings) becomes a typed command.

How it works: `COMMAND_TABLE` holds one `CommandSpec` per command we serve, with the arity,
flags, key positions and ACL categories Redis 6.2.14 reports for it, and the function that
parses its arguments. `parse_command` looks the name up (case-insensitively), checks the arity
from the spec, then runs the parser, which returns a command dataclass or the `ErrorReply` Redis
would send. COMMAND / COMMAND INFO answer from the same table, so what we validate and what we
advertise cannot drift apart. The command dataclasses are not frozen: one is made per request,
a frozen dataclass's constructor costs several times as much, and nothing changes a command
once it is parsed.

Why this way: the proxy reports the lowest backend version (6.2.14), so clients must see 6.2's
replies byte for byte, including which error wins when a request has several faults. The
parsers therefore follow 6.2's own order: unknown command, then arity, then the options left to
right, then the numeric checks. QUIT is not in the table, as in 6.2: Redis answers it before
looking commands up, with any number of arguments, and COMMAND does not list it.

Error texts built from client bytes follow 6.2's formatting: each `%s` stops at a NUL byte,
CR and LF become spaces, and bytes that are not UTF-8 are kept through the `surrogateescape`
error handler (encode the text with `.encode("utf-8", "surrogateescape")` to get them back).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from leaderless.proxy.resp import ErrorReply

LLONG_MAX = 2**63 - 1
LLONG_MIN = -(2**63)
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)

SYNTAX_ERROR = ErrorReply("ERR syntax error")
NOT_AN_INTEGER = ErrorReply("ERR value is not an integer or out of range")
INVALID_SET_EXPIRE = ErrorReply("ERR invalid expire time in set")
NOAUTH = ErrorReply("NOAUTH Authentication required.")
WRONGPASS = ErrorReply("WRONGPASS invalid username-password pair or user is disabled.")
AUTH_WITHOUT_PASSWORD = ErrorReply(
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
HELLO_NOAUTH = ErrorReply(
    "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
    "HELLO AUTH <user> <pass> option can be used to authenticate the client and select "
    "the RESP protocol version at the same time"
)
NOPROTO = ErrorReply("NOPROTO unsupported protocol version")
BAD_PROTOCOL_VERSION = ErrorReply("ERR Protocol version is not an integer or out of range")
BAD_CLIENT_NAME = ErrorReply(
    "ERR Client names cannot contain spaces, newlines or special characters."
)
INT_OUT_OF_RANGE = ErrorReply(
    f"ERR value is out of range, value must between {INT_MIN} and {INT_MAX}"
)
# Our own text (6.2 has none: it serves 16 databases). Modelled on 6.2's cluster-mode answer,
# which likewise refuses every index but 0 after the integer checks.
SELECT_NOT_ZERO = ErrorReply("ERR SELECT is not allowed in leaderless: only DB 0 is served")


class SetCondition(StrEnum):
    NX = "NX"
    XX = "XX"


class ExpiryUnit(StrEnum):
    """EX/PX are relative (seconds/ms from now); EXAT/PXAT absolute unix seconds/ms."""

    EX = "EX"
    PX = "PX"
    EXAT = "EXAT"
    PXAT = "PXAT"


class FlushMode(StrEnum):
    SYNC = "SYNC"
    ASYNC = "ASYNC"


class ClientAttribute(StrEnum):
    LIB_NAME = "lib-name"
    LIB_VER = "lib-ver"


@dataclass(slots=True)
class SetExpiry:
    """The expire option of SET as given: `amount` is positive and, for EX/EXAT, at most
    LLONG_MAX // 1000 (6.2 checks both before looking at the clock)."""

    unit: ExpiryUnit
    amount: int


@dataclass(slots=True)
class Get:
    key: bytes


@dataclass(slots=True)
class Set:
    key: bytes
    value: bytes
    condition: SetCondition | None = None
    get: bool = False
    expiry: SetExpiry | None = None
    keepttl: bool = False

    @property
    def needs_current_value(self) -> bool:
        """Whether the reply or the stored expiry depends on the key's current value."""
        return self.condition is not None or self.get or self.keepttl


@dataclass(slots=True)
class Del:
    keys: tuple[bytes, ...]


@dataclass(slots=True)
class Exists:
    keys: tuple[bytes, ...]


@dataclass(slots=True)
class MGet:
    keys: tuple[bytes, ...]


@dataclass(slots=True)
class MSet:
    pairs: tuple[tuple[bytes, bytes], ...]


@dataclass(slots=True)
class Ttl:
    """TTL (seconds, rounded as Redis does: (ms + 500) // 1000) or PTTL (milliseconds)."""

    key: bytes
    milliseconds: bool


@dataclass(slots=True)
class DbSize:
    pass


@dataclass(slots=True)
class Flush:
    """FLUSHDB or FLUSHALL: the same thing here, where DB 0 is the only database."""

    mode: FlushMode | None


@dataclass(slots=True)
class Ping:
    message: bytes | None


@dataclass(slots=True)
class Echo:
    message: bytes


@dataclass(slots=True)
class Quit:
    pass


@dataclass(slots=True)
class Reset:
    pass


@dataclass(slots=True)
class Select:
    """Only SELECT 0 parses; every other index is refused with SELECT_NOT_ZERO."""


@dataclass(slots=True)
class Auth:
    username: bytes | None  # None: the one-argument form, AUTH <password>
    password: bytes


@dataclass(slots=True)
class HelloAuth:
    username: bytes
    password: bytes


@dataclass(slots=True)
class HelloSetName:
    name: bytes | None  # None clears the name (an empty SETNAME argument)


@dataclass(slots=True)
class Hello:
    """6.2 applies HELLO's options left to right as it reads them, so an AUTH before a bad
    option still authenticates. `options` are the valid ones before the first fault, `error`
    the reply for that fault (sent after applying `options`), or None."""

    protover: int | None
    options: tuple[HelloAuth | HelloSetName, ...]
    error: ErrorReply | None


@dataclass(slots=True)
class ClientSetName:
    name: bytes | None  # None clears the name


@dataclass(slots=True)
class ClientGetName:
    pass


@dataclass(slots=True)
class ClientId:
    pass


@dataclass(slots=True)
class ClientInfo:
    pass


@dataclass(slots=True)
class ClientSetInfo:
    attribute: ClientAttribute
    value: bytes | None  # None clears it (an empty value)


@dataclass(slots=True)
class ClientHelp:
    pass


@dataclass(slots=True)
class CommandList:
    pass


@dataclass(slots=True)
class CommandCount:
    pass


@dataclass(slots=True)
class CommandInfo:
    names: tuple[bytes, ...]


@dataclass(slots=True)
class CommandDocs:
    names: tuple[bytes, ...]  # empty: every command


@dataclass(slots=True)
class CommandHelp:
    pass


@dataclass(slots=True)
class Info:
    section: str | None  # as given; render_info compares it case-insensitively


Command = (
    Get
    | Set
    | Del
    | Exists
    | MGet
    | MSet
    | Ttl
    | DbSize
    | Flush
    | Ping
    | Echo
    | Quit
    | Reset
    | Select
    | Auth
    | Hello
    | ClientSetName
    | ClientGetName
    | ClientId
    | ClientInfo
    | ClientSetInfo
    | ClientHelp
    | CommandList
    | CommandCount
    | CommandInfo
    | CommandDocs
    | CommandHelp
    | Info
)
# What 6.2 runs for a client that has not authenticated yet; the session answers NOAUTH to the
# others, but only after parse errors (6.2 checks the name and arity first).
NO_AUTH_COMMANDS = (Auth, Hello, Quit)
Parser = Callable[[list[bytes]], Command | ErrorReply]


# -- text helpers ------------------------------------------------------------------------


def c_string(arg: bytes) -> bytes:
    """What a C `%s` prints of a Redis argument: everything before the first NUL byte."""
    return arg.split(b"\x00", 1)[0]


def token(arg: bytes) -> bytes:
    """An option or subcommand as 6.2's strcasecmp sees it: up to a NUL, case folded."""
    return c_string(arg).upper()


def format_error(text: bytes) -> ErrorReply:
    """An error built from client bytes, made safe the way 6.2's addReplyErrorFormat does."""
    return ErrorReply(
        text.replace(b"\r", b" ").replace(b"\n", b" ").decode("utf-8", "surrogateescape")
    )


def unknown_command_error(args: list[bytes]) -> ErrorReply:
    """6.2's reply to an unknown command: the name in full, then the arguments while the
    listing is under 128 bytes, each cut so that the listing stops at 128 bytes."""
    listing = b""
    for arg in args[1:]:
        if len(listing) >= 128:
            break
        listing += b"`" + c_string(arg)[: 128 - len(listing)] + b"`, "
    return format_error(
        b"ERR unknown command `" + c_string(args[0]) + b"`, with args beginning with: " + listing
    )


def arity_error(name: str) -> ErrorReply:
    return ErrorReply(f"ERR wrong number of arguments for '{name}' command")


def subcommand_error(command: str, subcommand: bytes) -> ErrorReply:
    return format_error(
        b"ERR Unknown subcommand or wrong number of arguments for '"
        + c_string(subcommand)
        + b"'. Try "
        + command.upper().encode()
        + b" HELP."
    )


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


# -- parsers -----------------------------------------------------------------------------


def _parse_get(args: list[bytes]) -> Command | ErrorReply:
    return Get(args[1])


def _parse_set(args: list[bytes]) -> Command | ErrorReply:
    """6.2's parseExtendedStringArgumentsOrReply, then setGenericCommand's number checks.
    An option may repeat (the last expire wins); conflicting ones are a syntax error."""
    condition: SetCondition | None = None
    get = keepttl = False
    unit: ExpiryUnit | None = None
    amount = b""
    j = 3
    while j < len(args):
        opt = token(args[j])
        has_next = j + 1 < len(args)
        if opt in (b"NX", b"XX"):
            wanted = SetCondition(opt.decode())
            if condition not in (None, wanted) or (wanted is SetCondition.NX and get):
                return SYNTAX_ERROR
            condition = wanted
        elif opt == b"GET":
            if condition is SetCondition.NX:
                return SYNTAX_ERROR
            get = True
        elif opt == b"KEEPTTL":
            if unit is not None:
                return SYNTAX_ERROR
            keepttl = True
        elif opt in (b"EX", b"PX", b"EXAT", b"PXAT") and has_next:
            wanted_unit = ExpiryUnit(opt.decode())
            if keepttl or unit not in (None, wanted_unit):
                return SYNTAX_ERROR
            unit = wanted_unit
            j += 1
            amount = args[j]
        else:
            return SYNTAX_ERROR
        j += 1
    expiry = None
    if unit is not None:
        value = parse_long_long(amount)
        if value is None:
            return NOT_AN_INTEGER
        seconds = unit in (ExpiryUnit.EX, ExpiryUnit.EXAT)
        if value <= 0 or (seconds and value > LLONG_MAX // 1000):
            return INVALID_SET_EXPIRE
        expiry = SetExpiry(unit, value)
    return Set(args[1], args[2], condition, get, expiry, keepttl)


def absolute_expiry_ms(set_command: Set, now_ms: int) -> int | ErrorReply:
    """The absolute unix-ms expiry the SET asks for, or 0 when it gives none (KEEPTTL is the
    caller's business). Relative times that overflow 64 bits after adding the clock are the
    error 6.2 gives; an expiry already past is valid (Redis then deletes the key)."""
    if set_command.expiry is None:
        return 0
    unit, amount = set_command.expiry.unit, set_command.expiry.amount
    when = amount * 1000 if unit in (ExpiryUnit.EX, ExpiryUnit.EXAT) else amount
    if unit in (ExpiryUnit.EX, ExpiryUnit.PX):
        when += now_ms
    if when > LLONG_MAX or when <= 0:
        return INVALID_SET_EXPIRE
    return when


def _parse_del(args: list[bytes]) -> Command | ErrorReply:
    return Del(tuple(args[1:]))


def _parse_exists(args: list[bytes]) -> Command | ErrorReply:
    return Exists(tuple(args[1:]))


def _parse_mget(args: list[bytes]) -> Command | ErrorReply:
    return MGet(tuple(args[1:]))


def _parse_mset(args: list[bytes]) -> Command | ErrorReply:
    if len(args) % 2 == 0:
        return ErrorReply("ERR wrong number of arguments for MSET")
    return MSet(tuple(zip(args[1::2], args[2::2], strict=True)))


def _parse_ttl(args: list[bytes]) -> Command | ErrorReply:
    return Ttl(args[1], milliseconds=False)


def _parse_pttl(args: list[bytes]) -> Command | ErrorReply:
    return Ttl(args[1], milliseconds=True)


def _parse_dbsize(args: list[bytes]) -> Command | ErrorReply:
    return DbSize()


def _flush_mode(args: list[bytes]) -> FlushMode | ErrorReply | None:
    if len(args) == 1:
        return None
    mode = token(args[1])
    if len(args) > 2 or mode not in (b"SYNC", b"ASYNC"):
        return SYNTAX_ERROR
    return FlushMode(mode.decode())


def _parse_flushdb(args: list[bytes]) -> Command | ErrorReply:
    mode = _flush_mode(args)
    return mode if isinstance(mode, ErrorReply) else Flush(mode)


def _parse_flushall(args: list[bytes]) -> Command | ErrorReply:
    mode = _flush_mode(args)
    return mode if isinstance(mode, ErrorReply) else Flush(mode)


def _parse_ping(args: list[bytes]) -> Command | ErrorReply:
    if len(args) > 2:
        return arity_error("ping")
    return Ping(args[1] if len(args) == 2 else None)


def _parse_echo(args: list[bytes]) -> Command | ErrorReply:
    return Echo(args[1])


def _parse_reset(args: list[bytes]) -> Command | ErrorReply:
    return Reset()


def _parse_select(args: list[bytes]) -> Command | ErrorReply:
    index = parse_long_long(args[1])
    if index is None:
        return NOT_AN_INTEGER
    if not INT_MIN <= index <= INT_MAX:
        return INT_OUT_OF_RANGE
    return Select() if index == 0 else SELECT_NOT_ZERO


def _parse_auth(args: list[bytes]) -> Command | ErrorReply:
    if len(args) > 3:
        return SYNTAX_ERROR
    if len(args) == 2:
        return Auth(None, args[1])
    return Auth(args[1], args[2])


def _client_name_ok(name: bytes) -> bool:
    """6.2 allows only '!'..'~' in client names (and lib attributes, in 7.2)."""
    return all(0x21 <= byte <= 0x7E for byte in name)


def _parse_hello(args: list[bytes]) -> Command | ErrorReply:
    protover = None
    if len(args) >= 2:
        protover = parse_long_long(args[1])
        if protover is None:
            return BAD_PROTOCOL_VERSION
        if protover not in (2, 3):
            return NOPROTO
    options: list[HelloAuth | HelloSetName] = []
    error = None
    j = 2
    while j < len(args):
        more = len(args) - 1 - j
        opt = token(args[j])
        if opt == b"AUTH" and more >= 2:
            options.append(HelloAuth(args[j + 1], args[j + 2]))
            j += 3
        elif opt == b"SETNAME" and more >= 1:
            if not _client_name_ok(args[j + 1]):
                error = BAD_CLIENT_NAME
                break
            options.append(HelloSetName(args[j + 1] or None))
            j += 2
        else:
            error = format_error(b"ERR Syntax error in HELLO option '" + c_string(args[j]) + b"'")
            break
    return Hello(protover, tuple(options), error)


def _parse_client(args: list[bytes]) -> Command | ErrorReply:
    sub = token(args[1])
    argc = len(args)
    if sub == b"HELP" and argc == 2:
        return ClientHelp()
    if sub == b"ID" and argc == 2:
        return ClientId()
    if sub == b"INFO" and argc == 2:
        return ClientInfo()
    if sub == b"GETNAME" and argc == 2:
        return ClientGetName()
    if sub == b"SETNAME" and argc == 3:
        if not _client_name_ok(args[2]):
            return BAD_CLIENT_NAME
        return ClientSetName(args[2] or None)
    if sub == b"SETINFO" and argc == 4:
        return _parse_client_setinfo(args[2], args[3])
    return subcommand_error("client", args[1])


def _parse_client_setinfo(attribute: bytes, value: bytes) -> Command | ErrorReply:
    """Redis 7.2's clientSetinfoCommand (6.2 lacks it; redis-py and others send it)."""
    try:
        which = ClientAttribute(token(attribute).lower().decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return format_error(b"ERR Unrecognized option '" + c_string(attribute) + b"'")
    if not _client_name_ok(value):
        return format_error(
            c_string(attribute).join(
                (b"ERR ", b" cannot contain spaces, newlines or special characters.")
            )
        )
    return ClientSetInfo(which, value or None)


def _parse_command(args: list[bytes]) -> Command | ErrorReply:
    argc = len(args)
    if argc == 1:
        return CommandList()
    sub = token(args[1])
    if sub == b"HELP" and argc == 2:
        return CommandHelp()
    if sub == b"INFO":
        return CommandInfo(tuple(args[2:]))
    if sub == b"DOCS":
        return CommandDocs(tuple(args[2:]))
    if sub == b"COUNT" and argc == 2:
        return CommandCount()
    return subcommand_error("command", args[1])


def _parse_info(args: list[bytes]) -> Command | ErrorReply:
    if len(args) > 2:
        return SYNTAX_ERROR
    return Info(c_string(args[1]).decode("utf-8", "surrogateescape") if len(args) == 2 else None)


# -- the table ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command as 6.2's COMMAND reports it, plus its parser. A negative arity means
    "at least that many arguments", the name included."""

    name: str
    arity: int
    flags: tuple[str, ...]
    first_key: int
    last_key: int
    step: int
    acl_categories: tuple[str, ...]
    parse: Parser

    def arity_ok(self, argc: int) -> bool:
        return argc == self.arity if self.arity > 0 else argc >= -self.arity


def _spec(
    name: str, arity: int, flags: str, keys: tuple[int, int, int], acl: str, parse: Parser
) -> CommandSpec:
    return CommandSpec(name, arity, tuple(flags.split()), *keys, tuple(acl.split()), parse)


_NO_KEYS = (0, 0, 0)
_CONNECTION = "@fast @connection"
COMMAND_TABLE: Mapping[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        _spec("get", 2, "readonly fast", (1, 1, 1), "@read @string @fast", _parse_get),
        _spec("set", -3, "write denyoom", (1, 1, 1), "@write @string @slow", _parse_set),
        _spec("del", -2, "write", (1, -1, 1), "@keyspace @write @slow", _parse_del),
        _spec("exists", -2, "readonly fast", (1, -1, 1), "@keyspace @read @fast", _parse_exists),
        _spec("mget", -2, "readonly fast", (1, -1, 1), "@read @string @fast", _parse_mget),
        _spec("mset", -3, "write denyoom", (1, -1, 2), "@write @string @slow", _parse_mset),
        _spec("ttl", 2, "readonly random fast", (1, 1, 1), "@keyspace @read @fast", _parse_ttl),
        _spec("pttl", 2, "readonly random fast", (1, 1, 1), "@keyspace @read @fast", _parse_pttl),
        _spec("dbsize", 1, "readonly fast", _NO_KEYS, "@keyspace @read @fast", _parse_dbsize),
        _spec(
            "flushdb", -1, "write", _NO_KEYS, "@keyspace @write @slow @dangerous", _parse_flushdb
        ),
        _spec(
            "flushall", -1, "write", _NO_KEYS, "@keyspace @write @slow @dangerous", _parse_flushall
        ),
        _spec("ping", -1, "stale fast", _NO_KEYS, _CONNECTION, _parse_ping),
        _spec("echo", 2, "fast", _NO_KEYS, _CONNECTION, _parse_echo),
        _spec("reset", 1, "noscript loading stale fast", _NO_KEYS, _CONNECTION, _parse_reset),
        _spec("select", 2, "loading stale fast", _NO_KEYS, "@keyspace @fast", _parse_select),
        _spec(
            "auth", -2, "noscript loading stale fast no_auth", _NO_KEYS, _CONNECTION, _parse_auth
        ),
        _spec(
            "hello", -1, "noscript loading stale fast no_auth", _NO_KEYS, _CONNECTION, _parse_hello
        ),
        _spec(
            "client",
            -2,
            "admin noscript random loading stale",
            _NO_KEYS,
            "@admin @slow @dangerous @connection",
            _parse_client,
        ),
        _spec("command", -1, "random loading stale", _NO_KEYS, "@slow @connection", _parse_command),
        _spec("info", -1, "random loading stale", _NO_KEYS, "@slow @dangerous", _parse_info),
    )
}


def parse_command(args: list[bytes]) -> Command | ErrorReply:
    """A request (name first; never empty, the codec drops empty requests) as a command,
    or the error 6.2 replies to it."""
    name = args[0].lower()
    if name == b"quit":
        return Quit()
    spec = COMMAND_TABLE.get(name.decode("ascii", "replace"))
    if spec is None:
        return unknown_command_error(args)
    if not spec.arity_ok(len(args)):
        return arity_error(spec.name)
    return spec.parse(args)


def check_credentials(
    username: bytes | None,
    password: bytes,
    requirepass: bytes | None,
    users: Mapping[bytes, bytes],
) -> ErrorReply | None:
    """AUTH's and HELLO AUTH's answer (None: authenticated) as 6.2's ACLs give it for what the
    proxy configures: the `default` user, whose password is requirepass, and the named `users`.
    With neither set, authentication is off and `default` accepts any password (6.2's
    `nopass`); with only users set, `default` is disabled. username None is AUTH <password>."""
    auth_off = requirepass is None and not users
    if username is None:
        if auth_off:
            return AUTH_WITHOUT_PASSWORD
        username = b"default"
    if username == b"default":
        if auth_off:
            return None
        expected = requirepass
    else:
        expected = users.get(username)
    if expected is not None and hmac.compare_digest(password, expected):
        return None
    return WRONGPASS


def hello_reply(version: str, protocol: int, client_id: int) -> dict[bytes, object]:
    """HELLO's map, in 6.2's field order; `protocol` is the one in force after the HELLO."""
    return {
        b"server": b"redis",
        b"version": version.encode(),
        b"proto": protocol,
        b"id": client_id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


def client_info_line(
    *,
    client_id: int,
    addr: str,
    laddr: str,
    name: bytes | None,
    age_seconds: int,
    idle_seconds: int,
    user: bytes,
    lib_name: bytes | None,
    lib_ver: bytes | None,
) -> bytes:
    """CLIENT INFO's line in 6.2's field order (a proxy has no fd, buffers or memory figures to
    report, so those read 0), with 7.2's lib-name/lib-ver appended; the session replies it as
    Verbatim("txt", ...), as 6.2 does."""
    return (
        f"id={client_id} addr={addr} laddr={laddr} fd=0 name=".encode()
        + (name or b"")
        + (
            f" age={age_seconds} idle={idle_seconds} flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0"
            " qbuf-free=0 argv-mem=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client"
            " user="
        ).encode()
        + user
        + b" redir=-1 lib-name="
        + (lib_name or b"")
        + b" lib-ver="
        + (lib_ver or b"")
        + b"\n"
    )
