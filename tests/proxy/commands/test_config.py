"""CONFIG GET's matching and values, CONFIG SET's checks and refusal, and Redis's glob."""

from __future__ import annotations

import pytest
from leaderless.proxy.commands.args import SYNTAX_ERROR, string_match
from leaderless.proxy.commands.config import PARAMETERS, config_set_refusal, matching
from leaderless.proxy.resp import ErrorReply

from tests.proxy.commands.test_client import proxy_state


@pytest.mark.parametrize(
    ("pattern", "string", "nocase", "expected"),
    [
        (b"max*", b"maxmemory", False, True),
        (b"MAX*", b"maxmemory", False, False),
        (b"MAX*", b"maxmemory", True, True),
        (b"*", b"", False, False),  # Redis: a star needs a byte to start on
        (b"h?llo", b"hello", False, True),
        (b"h[ae]llo", b"hallo", False, True),
        (b"h[^e]llo", b"hello", False, False),
        (b"h[a-c]llo", b"hbllo", False, True),
        (b"h[c-a]llo", b"hbllo", False, True),
        (b"h[A-C]llo", b"hbllo", True, True),
        (b"a\\*", b"a*", False, True),
        (b"a\\*", b"ab", False, False),
        (b"[abc", b"a", False, True),  # a set left open
        (b"*-max-len", b"slowlog-max-len", False, True),
        (b"*x*", b"slowlog", False, False),
        (b"**a", b"ba", False, True),
        (b"a*", b"a", False, True),
    ],
)
def test_string_match(pattern: bytes, string: bytes, nocase: bool, expected: bool) -> None:
    assert string_match(pattern, string, nocase=nocase) is expected


def names(*patterns: bytes) -> list[bytes]:
    return [name for name, _ in matching(list(patterns))]


def test_matching_exact_names_keep_the_case_given_and_globs_the_parameter_name() -> None:
    assert names(b"MAXMEMORY") == [b"MAXMEMORY"]
    assert names(b"MAXMEMORY", b"maxmemory") == [b"MAXMEMORY"]
    assert names(b"maxmemory*") == [b"maxmemory", b"maxmemory-policy"]
    assert names(b"nosuch", b"databases", b"datab*") == [b"databases"]
    assert names(b"slowlog-*") == [b"slowlog-log-slower-than", b"slowlog-max-len"]
    assert names(b"") == []
    assert len(names(b"*")) == len(PARAMETERS)


def test_values_follow_the_proxy_settings() -> None:
    state = proxy_state(address="0.0.0.0:7000", max_clients=12, idle_timeout_s=30)
    values = {name: p.value(state) for name, p in PARAMETERS.items()}
    assert values["timeout"] == "30"
    assert values["maxclients"] == "12"
    assert values["bind"] == "0.0.0.0"
    assert values["port"] == "6380" and values["tls-port"] == "0"
    assert values["databases"] == "16" and values["cluster-enabled"] == "no"
    assert values["proto-max-bulk-len"] == str(state.settings.limits.max_bulk_bytes)
    tls = proxy_state(tls_cert_file="c.pem", tls_key_file="k.pem")
    assert PARAMETERS["port"].value(tls) == "0"
    assert PARAMETERS["tls-port"].value(tls) == "6380"


def refusal(line: str) -> ErrorReply:
    return config_set_refusal([word.encode() for word in line.split()])


def test_config_set_checks_in_redis_order_then_says_where_the_setting_is() -> None:
    assert refusal("config set timeout 1 maxclients") == SYNTAX_ERROR
    assert refusal("config set nosuch 1 databases 2") == ErrorReply(
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    )
    assert refusal("config set databases 1 nosuch 2") == ErrorReply(
        "ERR CONFIG SET failed (possibly related to argument 'databases') - "
        "can't set immutable config"
    )
    assert refusal("config set timeout 1 TIMEOUT 2") == ErrorReply(
        "ERR CONFIG SET failed (possibly related to argument 'TIMEOUT') - duplicate parameter"
    )
    assert refusal("config set Timeout 1 maxclients 2") == ErrorReply(
        "ERR CONFIG SET failed (possibly related to argument 'Timeout') - the proxy does not "
        "change it at run time: [listen] idle_timeout_s in the proxy's config file "
        "(--idle-timeout-s)"
    )


def test_every_settable_parameter_says_where_it_is_set() -> None:
    for parameter in PARAMETERS.values():
        if parameter.set_in is not None:
            assert refusal(f"config set {parameter.name} x").endswith(parameter.set_in)
