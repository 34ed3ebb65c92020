"""CONFIG: the parameters clients and their libraries probe, answered with the proxy's own
values, and the refusal to change them at run time.

The proxy's settings come from its config file, environment and flags when it starts (see
config/settings.py); those that Redis names (timeout, maxclients, proto-max-bulk-len ...) read
as their setting. What a proxy does not have (persistence, eviction, keyspace events) reads as
a Redis without it would: `save ""`, `appendonly no`, `maxmemory 0`. Memory and persistence
are each replica's own, set in its redis.conf. CONFIG SET checks its arguments as Redis does
(pairs, known names, immutable ones, duplicates) and then refuses, saying where the setting
lives. A name the proxy does not report is unknown to it, as Redis's unknown names are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from leaderless.proxy.commands.args import SYNTAX_ERROR, c_string, format_error, string_match
from leaderless.proxy.commands.spec import Arg, CommandSpec, Doc, Local, subcommands
from leaderless.proxy.commands.strings import OK
from leaderless.proxy.resp import ErrorReply
from leaderless.proxy.state import Context, ProxyState

_OUTPUT_LIMITS_OF_OTHERS = "slave 268435456 67108864 60 pubsub 33554432 8388608 60"
"""Redis's defaults for the client classes the proxy has none of."""
_REPLICAS_OWN = "each replica's own: set it in the replicas' redis.conf"
_NOT_A_PROXY_SETTING = "not a setting of the proxy"


@dataclass(frozen=True, slots=True)
class Parameter:
    """A parameter CONFIG GET reports: its value from the proxy's state, and where it is set
    (None: Redis itself cannot change it at run time)."""

    name: str
    value: Callable[[ProxyState], str]
    set_in: str | None


def _fixed(value: str) -> Callable[[ProxyState], str]:
    return lambda state: value


def _yes_no(on: bool) -> str:
    return "yes" if on else "no"


def _tls(state: ProxyState) -> bool:
    return state.settings.listen.tls_cert_file is not None


PARAMETERS = {
    parameter.name: parameter
    for parameter in (
        Parameter("appendonly", _fixed("no"), _REPLICAS_OWN),
        Parameter(
            "bind",
            lambda state: state.settings.listen.host,
            "[listen] address in the proxy's config file (--listen)",
        ),
        Parameter("busy-reply-threshold", _fixed("5000"), _NOT_A_PROXY_SETTING),
        Parameter(
            "client-output-buffer-limit",
            lambda state: (
                f"normal {state.settings.limits.max_output_bytes} 0 0 {_OUTPUT_LIMITS_OF_OTHERS}"
            ),
            "[limits] max_output_bytes in the proxy's config file (--max-output-bytes)",
        ),
        Parameter(
            "client-query-buffer-limit",
            _fixed("1073741824"),
            "requests are bounded by [limits] max_bulk_bytes and max_args in the proxy's "
            "config file",
        ),
        Parameter("cluster-enabled", _fixed("no"), None),
        Parameter("databases", _fixed("16"), None),
        Parameter("lua-time-limit", _fixed("5000"), _NOT_A_PROXY_SETTING),
        Parameter(
            "maxclients",
            lambda state: str(state.settings.listen.max_clients),
            "[listen] max_clients in the proxy's config file (--max-clients)",
        ),
        Parameter("maxmemory", _fixed("0"), _REPLICAS_OWN),
        Parameter("maxmemory-policy", _fixed("noeviction"), _REPLICAS_OWN),
        Parameter(
            "notify-keyspace-events",
            _fixed(""),
            "the proxy publishes no keyspace notifications",
        ),
        Parameter(
            "port",
            lambda state: "0" if _tls(state) else str(state.port),
            "[listen] address in the proxy's config file (--listen)",
        ),
        Parameter(
            "protected-mode",
            lambda state: _yes_no(state.settings.listen.protected_mode),
            "[listen] protected_mode in the proxy's config file (--protected-mode)",
        ),
        Parameter(
            "proto-max-bulk-len",
            lambda state: str(state.settings.limits.max_bulk_bytes),
            "[limits] max_bulk_bytes in the proxy's config file (--max-bulk-bytes)",
        ),
        Parameter("save", _fixed(""), _REPLICAS_OWN),
        Parameter("slowlog-log-slower-than", _fixed("-1"), "the proxy keeps no slow log"),
        Parameter("slowlog-max-len", _fixed("0"), "the proxy keeps no slow log"),
        Parameter(
            "timeout",
            lambda state: str(state.settings.listen.idle_timeout_s),
            "[listen] idle_timeout_s in the proxy's config file (--idle-timeout-s)",
        ),
        Parameter(
            "tls-port",
            lambda state: str(state.port) if _tls(state) else "0",
            "[listen] address and tls_cert_file in the proxy's config file",
        ),
    )
}


def _lookup(name: bytes) -> Parameter | None:
    """A parameter by its whole name, any case (a NUL byte in it names none)."""
    return PARAMETERS.get(name.lower().decode("utf-8", "replace"))


def matching(patterns: list[bytes]) -> list[tuple[bytes, Parameter]]:
    """The parameters CONFIG GET names, each once: an exact name (no `*`, `?` or `[`) under
    the name as given, any case; a glob, matched without case, under the parameter's name."""
    found: dict[str, tuple[bytes, Parameter]] = {}
    for pattern in patterns:
        glob = c_string(pattern)
        if not any(char in glob for char in b"*?["):
            parameter = _lookup(pattern)
            if parameter is not None:
                found.setdefault(parameter.name, (pattern, parameter))
            continue
        for parameter in PARAMETERS.values():
            if string_match(glob, parameter.name.encode(), nocase=True):
                found.setdefault(parameter.name, (parameter.name.encode(), parameter))
    return list(found.values())


def _config_get(context: Context, args: list[bytes]) -> object:
    return {name: parameter.value(context.state).encode() for name, parameter in matching(args[2:])}


def _set_failed(name: bytes, why: str) -> ErrorReply:
    return format_error(
        b"ERR CONFIG SET failed (possibly related to argument '"
        + c_string(name)
        + b"') - "
        + why.encode()
    )


def config_set_refusal(args: list[bytes]) -> ErrorReply:
    """CONFIG SET's reply: Redis's checks of the pairs in its order (an odd count; then the
    first unknown name, immutable parameter or repeated one), else the first parameter's
    refusal, which says where it is set."""
    if len(args) % 2:
        return SYNTAX_ERROR
    names = args[2::2]
    seen: set[str] = set()
    for name in names:
        parameter = _lookup(name)
        if parameter is None:
            return format_error(
                b"ERR Unknown option or number of arguments for CONFIG SET - '"
                + c_string(name)
                + b"'"
            )
        if parameter.set_in is None:
            return _set_failed(name, "can't set immutable config")
        if parameter.name in seen:
            return _set_failed(name, "duplicate parameter")
        seen.add(parameter.name)
    first = _lookup(names[0])
    assert first is not None and first.set_in is not None
    return _set_failed(names[0], f"the proxy does not change it at run time: {first.set_in}")


def _config_set(context: Context, args: list[bytes]) -> object:
    return config_set_refusal(args)


def _config_resetstat(context: Context, args: list[bytes]) -> object:
    context.state.reset_stats()
    return OK


_ADMIN = "admin noscript loading stale"
_ADMIN_ACL = "@admin @slow @dangerous"
_BY_PARAMETERS = "O(N) when N is the number of configuration parameters provided"
_ALL_NODES = ("request_policy:all_nodes", "response_policy:all_succeeded")

SPECS = (
    CommandSpec(
        "config",
        -2,
        "",
        "@slow",
        Doc("Commands about the proxy's settings.", "2.0.0", "server", "Depends on subcommand."),
        None,
        subcommands=subcommands(
            CommandSpec(
                "config|get",
                -3,
                _ADMIN,
                _ADMIN_ACL,
                Doc(
                    "Answers the proxy's values of the parameters named or matched.",
                    "2.0.0",
                    "server",
                    _BY_PARAMETERS,
                    (Arg("parameter", "string", multiple=True),),
                ),
                Local(_config_get),
                help=(
                    "GET <pattern> [<pattern> ...]",
                    "    Answer the parameters named or matched by a glob, with their values.",
                ),
            ),
            CommandSpec(
                "config|set",
                -4,
                _ADMIN,
                _ADMIN_ACL,
                Doc(
                    "Refused: the proxy's settings are fixed when it starts.",
                    "2.0.0",
                    "server",
                    _BY_PARAMETERS,
                    (
                        Arg(
                            "data",
                            "block",
                            multiple=True,
                            arguments=(Arg("parameter", "string"), Arg("value", "string")),
                        ),
                    ),
                ),
                Local(_config_set),
                tips=_ALL_NODES,
                help=(
                    "SET <parameter> <value> [<parameter> <value> ...]",
                    "    Refused: says where the proxy's setting is configured.",
                ),
            ),
            CommandSpec(
                "config|resetstat",
                2,
                _ADMIN,
                _ADMIN_ACL,
                Doc("Starts the proxy's INFO counters again.", "2.0.0", "server", "O(1)"),
                Local(_config_resetstat),
                tips=_ALL_NODES,
                help=("RESETSTAT", "    Start the counters of INFO stats and commandstats again."),
            ),
            CommandSpec(
                "config|help",
                2,
                "loading stale",
                "@slow",
                Doc("Lists the subcommands and what they do.", "5.0.0", "server", "O(1)"),
                None,
                help=("HELP", "    Print this help."),
            ),
        ),
    ),
)
