"""Loading settings: TOML file, overrides on top, and every validation error's exact text."""

from __future__ import annotations

import re
import tomllib
from importlib.resources import as_file, files
from pathlib import Path

import pytest
from leaderless.config.loader import SettingsError, load_settings, settings_warnings
from leaderless.config.settings import NodeAddress, Settings, setting_fields

NODES3 = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002", "redis://127.0.0.1:7003"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leaderless.toml"
    path.write_text(text)
    return path


def error_text(config_file: Path | None, overrides: dict[str, object]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(config_file, overrides)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_defaults_without_file_or_overrides() -> None:
    assert load_settings(None, {}) == Settings()


def test_file_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[listen]\naddress = "0.0.0.0:7000"\nrequirepass = "pw"\n'
        f"[replication]\nnodes = {NODES3!r}\nw = 3\nproxy_id = 0\n"
        "[limits]\nmax_args = 10\n",
    )
    settings = load_settings(path, {})
    assert settings.listen.address == "0.0.0.0:7000"
    assert settings.listen.requirepass == "pw"
    assert settings.replication.nodes == tuple(NodeAddress.parse(url) for url in NODES3)
    assert (settings.replication.w, settings.replication.r) == (3, 2)
    assert settings.replication.proxy_id == 0
    assert settings.limits.max_args == 10
    assert settings.limits.max_bulk_bytes == Settings().limits.max_bulk_bytes


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, f"[replication]\nnodes = {NODES3!r}\nw = 3\ntimeout_ms = 50\n")
    settings = load_settings(path, {"replication.w": 1, "replication.nodes": NODES3[::-1]})
    assert settings.replication.w == 1
    assert settings.replication.timeout_ms == 50
    assert settings.replication.nodes[0].port == 7003


def test_the_server_binary_comes_from_the_flag_then_the_file_then_the_environment(
    tmp_path: Path,
) -> None:
    environ = {"LEADERLESS_REDIS_SERVER": "/env/redis-server"}
    config = write(tmp_path, '[local_nodes]\nredis_server = "/file/valkey-server"\n')
    flag = {"local_nodes.redis_server": "/flag/valkey-server"}

    def chosen(config_file: Path | None, overrides: dict[str, object]) -> str | None:
        return load_settings(config_file, overrides, environ).local_nodes.redis_server

    assert chosen(config, flag) == "/flag/valkey-server"
    assert chosen(config, {}) == "/file/valkey-server"
    assert chosen(None, {}) == "/env/redis-server"
    assert load_settings(None, {}, {"LEADERLESS_REDIS_SERVER": ""}).local_nodes.redis_server is None
    assert load_settings(None, {}).local_nodes.redis_server is None  # no environment given


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    assert error_text(path, {}) == f"config file {path} does not exist"


def test_invalid_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[listen\n")
    assert error_text(path, {}).startswith(f"config file {path} is not valid TOML: ")


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[replicaton]\nn = 3\n")
    assert error_text(path, {}) == (
        f"{path}: unknown section [replicaton]; known sections: "
        "[anti_entropy], [hints], [limits], [listen], [local_nodes], [log], [metrics], "
        "[replication]"
    )


def test_unknown_key_names_key_and_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[listen]\nport = 6380\n")
    assert error_text(path, {}) == (
        f"{path}: unknown key 'port' in section [listen]; known keys: "
        "address, requirepass, max_clients, workers, users, protected_mode, idle_timeout_s, "
        "tls_cert_file, tls_key_file, tls_ca_file, tls_require_client_cert"
    )


def test_key_outside_a_section(tmp_path: Path) -> None:
    path = write(tmp_path, "n = 3\n")
    assert error_text(path, {}) == f"{path}: unknown section [n]; known sections: " + (
        "[anti_entropy], [hints], [limits], [listen], [local_nodes], [log], [metrics], "
        "[replication]"
    )


def test_wrong_types_name_file_and_setting(tmp_path: Path) -> None:
    path = write(tmp_path, '[replication]\nw = "2"\n')
    assert error_text(path, {}) == f"{path}: replication.w (--w) must be an integer, got '2'"
    path = write(tmp_path, "[listen]\naddress = 6380\n")
    assert error_text(path, {}) == f"{path}: listen.address (--listen) must be a string, got 6380"
    path = write(tmp_path, "[limits]\nmax_args = true\n")
    assert (
        error_text(path, {}) == f"{path}: limits.max_args (--max-args) must be an integer, got True"
    )
    path = write(tmp_path, '[replication]\nnodes = "redis://h:1"\n')
    assert error_text(path, {}) == (
        f"{path}: replication.nodes (--node) must be a list of redis:// URLs, got 'redis://h:1'"
    )


def test_unknown_override() -> None:
    assert error_text(None, {"replication.quorum": 2}) == "unknown setting 'replication.quorum'"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"replication.n": 0}, "replication.n (--n) must be at least 1, got 0"),
        ({"replication.w": 4}, "replication.w (--w) = 4 must be between 1 and n = 3"),
        ({"replication.w": 0}, "replication.w (--w) = 0 must be between 1 and n = 3"),
        ({"replication.r": 5}, "replication.r (--r) = 5 must be between 1 and n = 3"),
        ({"replication.r": -1}, "replication.r (--r) = -1 must be between 1 and n = 3"),
        (
            {"replication.proxy_id": 65536},
            "replication.proxy_id (--proxy-id) = 65536 must be between 0 and 65535",
        ),
        (
            {"replication.proxy_id": -1},
            "replication.proxy_id (--proxy-id) = -1 must be between 0 and 65535",
        ),
        (
            {"replication.timeout_ms": 0},
            "replication.timeout_ms (--timeout-ms) must be positive, got 0",
        ),
        (
            {"replication.max_clock_offset_ms": -5},
            "replication.max_clock_offset_ms (--max-clock-offset-ms) must be positive, got -5",
        ),
        (
            {"replication.tombstone_grace_s": 0},
            "replication.tombstone_grace_s (--tombstone-grace-s) must be positive, got 0",
        ),
        ({"listen.max_clients": 0}, "listen.max_clients (--max-clients) must be positive, got 0"),
        ({"listen.workers": 0}, "listen.workers (--workers) must be positive, got 0"),
        (
            {"listen.workers": 3, "listen.max_clients": 2},
            "listen.max_clients (--max-clients) = 2 is split among listen.workers (--workers) "
            "= 3: give at least one client per worker",
        ),
        (
            {"listen.workers": 3, "replication.proxy_id": 65534},
            "replication.proxy_id (--proxy-id) = 65534 with listen.workers (--workers) = 3: the "
            "workers take ids 65534..65536, past 65535; choose a proxy_id of at most 65533",
        ),
        (
            {"limits.max_bulk_bytes": 0},
            "limits.max_bulk_bytes (--max-bulk-bytes) must be positive, got 0",
        ),
        ({"limits.max_args": 0}, "limits.max_args (--max-args) must be positive, got 0"),
        (
            {"limits.max_output_bytes": 0},
            "limits.max_output_bytes (--max-output-bytes) must be positive, got 0",
        ),
        (
            {"replication.nodes": NODES3[:1]},
            "replication.nodes (--node) lists 1 node but n = 3; list at least n nodes, "
            "or set n to 1",
        ),
        (
            {"replication.nodes": NODES3, "replication.n": 5},
            "replication.nodes (--node) lists 3 nodes but n = 5; list at least n nodes, "
            "or set n to 3",
        ),
        (
            {"replication.nodes": [*NODES3[:2], "redis://127.0.0.1:7001/0"]},
            "node 127.0.0.1:7001 is listed twice in replication.nodes (--node)",
        ),
        (
            {"replication.nodes": [*NODES3[:2], "redis://u:pw@127.0.0.1:x"]},
            "replication.nodes (--node): node URL 'redis://u:***@127.0.0.1:x': "
            "port must be a number in 1..65535",
        ),
        (
            {"listen.address": "localhost"},
            "listen.address (--listen): 'localhost' is not HOST:PORT (e.g. 127.0.0.1:6380)",
        ),
    ],
)
def test_validation_errors(overrides: dict[str, object], message: str) -> None:
    assert error_text(None, overrides) == message


def test_validation_error_names_the_file_for_file_values(tmp_path: Path) -> None:
    path = write(tmp_path, '[replication]\nnodes = ["http://h:1"]\n')
    assert error_text(path, {}) == (
        f"{path}: replication.nodes (--node): node URL 'http://h:1': "
        "must start with redis:// or rediss://"
    )


def test_quorums_that_may_miss_writes_are_a_warning_not_an_error() -> None:
    settings = load_settings(None, {"replication.w": 1, "replication.r": 2})
    assert settings_warnings(settings) == [
        "w + r = 3 is not more than n = 3: reads may miss acknowledged writes "
        "(choose w + r > n for reads that see every acknowledged write)"
    ]
    assert settings_warnings(load_settings(None, {})) == []


def test_an_expired_grace_shorter_than_hints_and_a_round_is_a_warning() -> None:
    settings = load_settings(None, {"replication.expired_grace_s": 10860, "hints.window_s": 10800})
    assert settings_warnings(settings) == []
    assert settings_warnings(load_settings(None, {"replication.expired_grace_s": 10859})) == [
        "replication.expired_grace_s = 10859 is less than hints.window_s + "
        "anti_entropy.interval_s = 10860: a replica that missed an overwrite with a TTL may bring "
        "the older value back after that TTL, unless it is back and repaired within the grace"
    ]


def test_workers_may_take_the_last_proxy_ids() -> None:
    settings = load_settings(None, {"listen.workers": 3, "replication.proxy_id": 65533})
    assert (settings.listen.workers, settings.replication.proxy_id) == (3, 65533)


def test_optional_settings_may_be_reset_to_unset() -> None:
    settings = load_settings(None, {"replication.proxy_id": None, "listen.requirepass": None})
    assert settings == Settings()


# The shipped example must list exactly the settings, with their defaults and docs.

EXAMPLE = files("leaderless.config").joinpath("leaderless.example.toml")


def test_example_loads_to_the_defaults() -> None:
    with as_file(EXAMPLE) as path:
        assert load_settings(path, {}) == Settings()


def test_example_sets_exactly_the_settings_that_have_a_value_by_default() -> None:
    document = tomllib.loads(EXAMPLE.read_text())
    present = {f"{section}.{key}" for section, table in document.items() for key in table}
    with_value = {spec.key for spec in setting_fields() if spec.default is not None}
    assert present == with_value


def test_example_documents_every_setting_above_it() -> None:
    lines = EXAMPLE.read_text().splitlines()
    section = ""
    documented: dict[str, str] = {}
    comments: list[str] = []
    for line in lines:
        setting = re.match(r"(?:# )?(\w+) = ", line)
        if line.startswith("["):
            section = line.strip("[]")
            comments = []
        elif setting is not None and section:
            documented[f"{section}.{setting.group(1)}"] = " ".join(comments)
            comments = []
        elif line.startswith("#"):
            comments.append(line[1:].strip())
        else:
            comments = []
    assert set(documented) == {spec.key for spec in setting_fields()}
    for spec in setting_fields():
        assert documented[spec.key].startswith(spec.doc), spec.key


# Security and clock settings.


def test_users_from_a_table_or_a_list(tmp_path: Path) -> None:
    table = load_settings(write(tmp_path, '[listen]\nusers = {"alice" = "a:1", "bob" = "b"}\n'), {})
    listed = load_settings(None, {"listen.users": ["alice:a:1", "bob:b"]})
    assert table == listed
    assert [(user.name, user.password) for user in table.listen.users] == [
        ("alice", "a:1"),
        ("bob", "b"),
    ]
    assert table.listen.auth_required
    assert "a:1" not in repr(table)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"listen.users": ["default:x"]},
            "listen.users (--user) must not list 'default': its password is "
            "listen.requirepass (--requirepass)",
        ),
        (
            {"listen.users": ["a:x", "a:y"]},
            "listen.users (--user) lists a user name more than once",
        ),
        (
            {"listen.users": ["alice"]},
            "listen.users (--user): a user is written NAME:PASSWORD, both non-empty "
            "(e.g. alice:s3cret)",
        ),
        (
            {"listen.idle_timeout_s": -1},
            "listen.idle_timeout_s (--idle-timeout-s) must be 0 (never) or positive, got -1",
        ),
        (
            {"listen.tls_cert_file": "c.pem"},
            "listen.tls_cert_file (--tls-cert-file) and listen.tls_key_file (--tls-key-file) "
            "must be set together",
        ),
        (
            {"listen.tls_ca_file": "ca.pem"},
            "listen.tls_ca_file (--tls-ca-file) needs listen.tls_cert_file (--tls-cert-file) "
            "set too",
        ),
        (
            {
                "listen.tls_cert_file": "c",
                "listen.tls_key_file": "k",
                "listen.tls_require_client_cert": True,
            },
            "listen.tls_require_client_cert (--tls-require-client-cert) needs listen.tls_ca_file "
            "(--tls-ca-file) to verify client certificates against",
        ),
        (
            {"listen.protected_mode": "no"},
            "listen.protected_mode (--protected-mode) must be true or false, got 'no'",
        ),
        (
            {"replication.clock_offset_action": "ignore"},
            "replication.clock_offset_action (--clock-offset-action) must be refuse or warn, "
            "got 'ignore'",
        ),
        (
            {"log.level": "verbose"},
            "log.level (--log-level) must be one of debug, info, warning, error, got 'verbose'",
        ),
        (
            {"log.format": "logfmt"},
            "log.format (--log-format) must be one of text, json, got 'logfmt'",
        ),
        (
            {"replication.ntp_servers": ["pool.ntp.org:x"]},
            "replication.ntp_servers (--ntp-server): 'pool.ntp.org:x' has port 'x'; a port is a "
            "number in 0..65535",
        ),
        (
            {"replication.ntp_interval_ms": 0},
            "replication.ntp_interval_ms (--ntp-interval-ms) must be positive, got 0",
        ),
    ],
)
def test_bad_security_and_clock_settings(overrides: dict[str, object], message: str) -> None:
    assert error_text(None, overrides) == message


def test_ntp_servers_default_to_port_123() -> None:
    settings = load_settings(
        None, {"replication.ntp_servers": ["pool.ntp.org", "10.0.0.1:1123", "[::1]:5", "::1"]}
    )
    assert settings.replication.ntp_servers == ("pool.ntp.org", "10.0.0.1:1123", "[::1]:5", "::1")


def test_metrics_listen_must_be_host_port() -> None:
    assert error_text(None, {"metrics.listen": "9121"}) == (
        "metrics.listen (--metrics-listen): '9121' is not HOST:PORT (e.g. 127.0.0.1:6380)"
    )


def test_each_worker_needs_a_metrics_port() -> None:
    overrides = {"metrics.listen": "127.0.0.1:65535", "listen.workers": 2}
    assert error_text(None, overrides) == (
        "metrics.listen (--metrics-listen) = '127.0.0.1:65535' with listen.workers (--workers) "
        "= 2: the workers serve metrics on ports 65535..65536, past 65535"
    )
