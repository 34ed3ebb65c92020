"""Every spec in the command table against the reference Valkey (Redis 7.2), spec by spec:
what COMMAND INFO and COMMAND DOCS say, the arity errors one argument short and one over, and,
for each command with keys, that a key under the reserved prefix is refused."""

from __future__ import annotations

import pytest
import redis
from leaderless.proxy.app.local_nodes import LocalRedisNode
from leaderless.proxy.commands.spec import CommandSpec
from leaderless.proxy.commands.table import COMMAND_TABLE
from leaderless.proxy.execute import RESERVED

from tests.integration.conftest import Cluster
from tests.support.compat import call

pytestmark = pytest.mark.integration

SPECS = [
    sub
    for spec in COMMAND_TABLE.values()
    for sub in ([spec] if not spec.subcommands else spec.subcommands.values())
]
"""Every command the proxy runs: the commands, and the subcommands of each container."""


def request_of(spec: CommandSpec, argc: int, arg: str = "a") -> list[str]:
    """A request for `spec` with `argc` arguments in all, the name (or names) included."""
    names = spec.name.split("|")
    return [*names, *[arg] * (argc - len(names))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_command_info_matches(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, spec: CommandSpec
) -> None:
    ours = call(shared_cluster.proxy.port, "COMMAND", "INFO", spec.name)
    assert ours == call(shared_reference.port, "COMMAND", "INFO", spec.name)


NOT_FACTS = {b"summary", b"history", b"doc_flags", b"deprecated_since", b"replaced_by"}
"""COMMAND DOCS fields a spec does not carry: the summary is in our own words, and the history
and deprecation notes are Redis's sentences."""


def documented_facts(port: int, name: str) -> object:
    """COMMAND DOCS of `name` without the fields in NOT_FACTS, nor a container's list of
    subcommands (ours lists those served)."""
    docs = response(port, "COMMAND", "DOCS", name, protocol=3)
    assert isinstance(docs, dict)
    entry = docs[name.encode()]
    return {
        field: value if field != b"arguments" else [_argument_facts(arg) for arg in value]
        for field, value in entry.items()
        if field not in NOT_FACTS and field != b"subcommands"
    }


def _argument_facts(argument: dict[bytes, object]) -> dict[bytes, object]:
    """An argument's docs without its own summary and deprecation note (Redis's sentences)."""
    return {
        field: value if field != b"arguments" else [_argument_facts(arg) for arg in value]  # type: ignore[attr-defined]
        for field, value in argument.items()
        if field not in (b"summary", b"deprecated_since")
    }


@pytest.mark.parametrize(
    "filter_by",
    [
        ["PATTERN", "get*"],
        ["pattern", "CLIENT*"],
        ["PATTERN", "*"],
        ["ACLCAT", "string"],
        ["aclcat", "Connection"],
        ["ACLCAT", "keyspace"],
        ["ACLCAT", "nosuch"],
        ["MODULE", "x"],
    ],
)
def test_command_list_filters_keep_what_the_reference_keeps_of_the_served_commands(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, filter_by: list[str]
) -> None:
    """COMMAND LIST FILTERBY: the served commands and subcommands the reference's filter keeps
    (its order is its dict's, so the names are compared as sets)."""
    served = set(call_list(shared_cluster.proxy.port, "COMMAND", "LIST"))
    ours = call_list(shared_cluster.proxy.port, "COMMAND", "LIST", "FILTERBY", *filter_by)
    theirs = call_list(shared_reference.port, "COMMAND", "LIST", "FILTERBY", *filter_by)
    assert len(ours) == len(set(ours))
    assert set(ours) == set(theirs) & served


def call_list(port: int, *args: str) -> list[bytes]:
    reply = response(port, *args)
    assert isinstance(reply, list)
    return reply


def response(port: int, *args: str, protocol: int = 2) -> object:
    """A reply as hiredis reads it, without redis-py's reading of COMMAND replies."""
    connection = redis.Connection(port=port, protocol=protocol)
    try:
        connection.send_command(*args)
        return connection.read_response()
    finally:
        connection.disconnect()


@pytest.mark.parametrize(
    "request_args",
    [
        ["COMMAND", "LIST", "x"],
        ["COMMAND", "LIST", "FILTERBY", "PATTERN"],
        ["COMMAND", "LIST", "FILTERBY", "bogus", "x"],
        ["COMMAND", "LIST", "FILTERBY", "PATTERN", "x", "y"],
        ["COMMAND", "LIST", "filter", "PATTERN", "x"],
    ],
)
def test_command_list_errors_match(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, request_args: list[str]
) -> None:
    ours = call(shared_cluster.proxy.port, *request_args)
    assert ours == call(shared_reference.port, *request_args)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_command_docs_match_but_for_what_is_ours(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, spec: CommandSpec
) -> None:
    ours = documented_facts(shared_cluster.proxy.port, spec.name)
    assert ours == documented_facts(shared_reference.port, spec.name)


def arity_probes(spec: CommandSpec) -> list[int]:
    """Argument counts just outside what the arity allows (none below the names themselves)."""
    least = abs(spec.arity)
    names = spec.name.count("|") + 1
    probes = [least - 1] if least - 1 >= names else []
    return [*probes, least + 1] if spec.arity > 0 else probes


@pytest.mark.parametrize(
    ("spec", "argc"),
    [(spec, argc) for spec in SPECS for argc in arity_probes(spec)],
    ids=lambda value: value.name if isinstance(value, CommandSpec) else str(value),
)
def test_arity_errors_match(
    shared_cluster: Cluster, shared_reference: LocalRedisNode, spec: CommandSpec, argc: int
) -> None:
    sent = request_of(spec, argc)
    ours = call(shared_cluster.proxy.port, *sent)
    assert ours.startswith(b"-")
    assert ours == call(shared_reference.port, *sent)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.key_specs], ids=lambda spec: spec.name)
def test_reserved_keys_are_refused(shared_cluster: Cluster, spec: CommandSpec) -> None:
    sent = request_of(spec, spec.arity if spec.arity > 0 else max(-spec.arity, 3), "__leaderless:x")
    if spec.key_specs[0].keynum:  # EVAL and its kin: the number of keys, then one key
        sent = [spec.name, "return 1", "1", "__leaderless:x"]
    assert call(shared_cluster.proxy.port, *sent) == b"-%s\r\n" % RESERVED.encode()
