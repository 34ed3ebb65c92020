"""The settings model: node URLs, listen addresses, and the field declarations themselves."""

from __future__ import annotations

import pytest
from leaderless.config.settings import (
    ListenSettings,
    NodeAddress,
    Settings,
    parse_endpoint,
    setting_fields,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://10.0.0.1:7000", NodeAddress("10.0.0.1", 7000)),
        ("redis://db.example", NodeAddress("db.example", 6379)),
        ("redis://h:7000/", NodeAddress("h", 7000)),
        ("redis://h:7000/0", NodeAddress("h", 7000)),
        ("rediss://h:7000", NodeAddress("h", 7000, tls=True)),
        ("redis://alice:s3cret@h:1", NodeAddress("h", 1, "alice", "s3cret")),
        ("redis://:s3cret@h:1", NodeAddress("h", 1, None, "s3cret")),
        ("redis://alice@h:1", NodeAddress("h", 1, "alice", None)),
        ("redis://a%40b:p%3Aw@h:1", NodeAddress("h", 1, "a@b", "p:w")),
        ("redis://[::1]:7000", NodeAddress("::1", 7000)),
        ("redis://h:1?zone=a", NodeAddress("h", 1, zone="a")),
        ("redis://h:1?zone=b&weight=2.5", NodeAddress("h", 1, zone="b", weight=2.5)),
    ],
)
def test_node_url_parses(url: str, expected: NodeAddress) -> None:
    assert NodeAddress.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://h:1", "node URL 'http://h:1': must start with redis:// or rediss://"),
        ("h:6379", "node URL 'h:6379': must start with redis:// or rediss://"),
        ("redis:/h:1", "node URL 'redis:/h:1': must start with redis:// or rediss://"),
        ("redis://:1", "node URL 'redis://:1': has no host (expected redis://HOST:PORT)"),
        ("redis://h:port", "node URL 'redis://h:port': port must be a number in 1..65535"),
        ("redis://h:70000", "node URL 'redis://h:70000': port must be a number in 1..65535"),
        ("redis://h:0", "node URL 'redis://h:0': port must be a number in 1..65535"),
        (
            "redis://h:1/3",
            "node URL 'redis://h:1/3': selects database '3'; only database 0 is supported",
        ),
        (
            "redis://h:1?db=2",
            "node URL 'redis://h:1?db=2': unknown option 'db' (the options are zone and weight)",
        ),
        ("redis://h:1#x", "node URL 'redis://h:1#x': must not have a fragment"),
        ("redis://h:1?zone=", "node URL 'redis://h:1?zone=': zone is empty"),
        (
            "redis://h:1?weight=0",
            "node URL 'redis://h:1?weight=0': weight must be a positive number",
        ),
        (
            "redis://h:1?weight=x",
            "node URL 'redis://h:1?weight=x': weight must be a positive number",
        ),
    ],
)
def test_malformed_node_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        NodeAddress.parse(url)
    assert str(caught.value) == message


def test_malformed_url_error_hides_the_password() -> None:
    with pytest.raises(ValueError) as caught:
        NodeAddress.parse("redis://alice:s3cret@h:port")
    assert "s3cret" not in str(caught.value)
    assert "redis://alice:***@h:port" in str(caught.value)


def test_password_never_shown() -> None:
    node = NodeAddress.parse("rediss://alice:s3cret@h:1")
    assert str(node) == "rediss://alice:***@h:1"
    assert "s3cret" not in repr(node)
    assert str(NodeAddress.parse("redis://:s3cret@h:1")) == "redis://:***@h:1"
    assert str(NodeAddress("h", 1)) == "redis://h:1"
    assert "s3cret" not in repr(ListenSettings(requirepass="s3cret"))


def test_endpoint_brackets_ipv6() -> None:
    assert NodeAddress("::1", 7000).endpoint == "[::1]:7000"
    assert NodeAddress("h", 7000).endpoint == "h:7000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:6380", ("127.0.0.1", 6380)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:1", ("::1", 1)),
    ],
)
def test_endpoint_parses(text: str, expected: tuple[str, int]) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("6380", "'6380' is not HOST:PORT (e.g. 127.0.0.1:6380)"),
        (":6380", "':6380' is not HOST:PORT (e.g. 127.0.0.1:6380)"),
        ("::1:6380", "'::1:6380' is not HOST:PORT (write IPv6 hosts as [::1]:6380)"),
        ("h:x", "'h:x' has port 'x'; a port is a number in 0..65535"),
        ("h:65536", "'h:65536' has port '65536'; a port is a number in 0..65535"),
    ],
)
def test_bad_endpoint_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_endpoint(text)
    assert str(caught.value) == message


def test_listen_host_and_port() -> None:
    listen = ListenSettings(address="[::1]:7000")
    assert (listen.host, listen.port) == ("::1", 7000)


def test_every_setting_is_documented_once_with_a_unique_flag() -> None:
    specs = setting_fields()
    flags = [spec.flag for spec in specs]
    assert len(set(flags)) == len(flags)
    for spec in specs:
        assert spec.flag.startswith("--")
        assert spec.doc.endswith(".")
        assert spec.metavar


def test_setting_fields_follow_the_dataclasses() -> None:
    defaults = Settings()
    for spec in setting_fields():
        assert getattr(getattr(defaults, spec.section), spec.name) == spec.default
    sections = {spec.section for spec in setting_fields()}
    assert sections == {
        "listen",
        "replication",
        "limits",
        "anti_entropy",
        "hints",
        "local_nodes",
        "metrics",
        "log",
    }


def test_a_login_at_another_node_keeps_the_credentials_and_tls_but_not_zone_or_weight() -> None:
    login = NodeAddress.parse("rediss://alice:s3cret@h:1?zone=a&weight=2")
    assert login.at("10.0.0.9:7000") == NodeAddress("10.0.0.9", 7000, "alice", "s3cret", tls=True)
