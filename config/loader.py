"""Builds validated `Settings` from a TOML file and overrides; the only code that reads files.

Values are collected as `section.name -> raw value`: first from the environment variables
some settings name (only where the caller passes the environment), then from the TOML file
(sections [listen], [replication], [limits]..., mirroring the dataclasses), then from
`overrides` (the command-line flags), which win. Each raw value is checked against its field's
type, then the whole is validated. Every failure is a `SettingsError` whose text is one line
saying what to fix and naming the setting both as written in the file (`replication.w`) and as
its flag (`--w`), so the user can fix it wherever they set it.

A weak but legal configuration (W + R <= N) is not an error; `settings_warnings()` describes it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from leaderless.config.settings import (
    LOG_FORMATS,
    LOG_LEVELS,
    ClientUser,
    NodeAddress,
    SettingField,
    Settings,
    parse_endpoint,
    parse_ntp_server,
    setting_fields,
)

_PROXY_ID_RANGE = (0, 65535)


class SettingsError(ValueError):
    """Settings that cannot be used; the message is one line saying what to fix."""


def load_settings(
    config_file: Path | None,
    overrides: Mapping[str, object],
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from `environ` (if given), then `config_file` (if any), with `overrides` (keys
    `section.name`) on top."""
    specs = {spec.key: spec for spec in setting_fields()}
    raw: dict[str, tuple[object, str]] = {}
    for spec in specs.values():
        if spec.env is not None and environ is not None and environ.get(spec.env):
            raw[spec.key] = (environ[spec.env], f"{spec.env} ({spec.key})")
    if config_file is not None:
        for key, value in _read_config_file(config_file, specs).items():
            raw[key] = (value, f"{config_file}: {_label(specs[key])}")
    for key, value in overrides.items():
        if key not in specs:
            raise SettingsError(f"unknown setting {key!r}")
        raw[key] = (value, _label(specs[key]))

    sections: dict[str, dict[str, Any]] = {}  # checked by _coerce, whatever the source
    for key, (value, where) in raw.items():
        spec = specs[key]
        sections.setdefault(spec.section, {})[spec.name] = _coerce(spec, value, where)
    defaults = Settings()
    settings = Settings(
        **{
            section.name: replace(getattr(defaults, section.name), **sections.get(section.name, {}))
            for section in fields(Settings)
        }
    )
    _validate(settings, specs)
    return settings


def settings_warnings(settings: Settings) -> list[str]:
    """Lines describing legal but risky choices, for the CLI to print at start-up."""
    rep = settings.replication
    warnings = []
    if rep.w + rep.r <= rep.n:
        warnings.append(
            f"w + r = {rep.w + rep.r} is not more than n = {rep.n}: reads may miss acknowledged "
            "writes (choose w + r > n for reads that see every acknowledged write)"
        )
    covered_s = settings.hints.window_s + settings.anti_entropy.interval_s
    if rep.expired_grace_s < covered_s:
        warnings.append(
            f"replication.expired_grace_s = {rep.expired_grace_s} is less than hints.window_s + "
            f"anti_entropy.interval_s = {covered_s}: a replica that missed an overwrite with a "
            "TTL may bring the older value back after that TTL, unless it is back and repaired "
            "within the grace"
        )
    return warnings


def _label(spec: SettingField) -> str:
    return f"{spec.key} ({spec.flag})"


def _read_config_file(path: Path, specs: Mapping[str, SettingField]) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"config file {path} is not valid TOML: {error}") from None

    sections = sorted({spec.section for spec in specs.values()})
    values: dict[str, object] = {}
    for section, table in document.items():
        if section not in sections:
            known = ", ".join(f"[{name}]" for name in sections)
            raise SettingsError(f"{path}: unknown section [{section}]; known sections: {known}")
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: {section} must be a section, written [{section}]")
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in specs:
                known = ", ".join(s.name for s in specs.values() if s.section == section)
                raise SettingsError(
                    f"{path}: unknown key {name!r} in section [{section}]; known keys: {known}"
                )
            values[key] = value
    return values


def _coerce(spec: SettingField, value: object, where: str) -> object:
    if value is None and spec.optional:
        return None
    got = "a value of another type" if spec.secret else repr(value)  # never echo a password
    if spec.many:
        if spec.kind is ClientUser and isinstance(value, dict):
            return tuple(_user(name, password, where) for name, password in value.items())
        if not isinstance(value, list | tuple):
            raise SettingsError(f"{where} must be {_LIST_OF[spec.kind]}, got {got}")
        return tuple(_item(spec, item, where) for item in value)
    if spec.kind is bool and not isinstance(value, bool):
        raise SettingsError(f"{where} must be true or false, got {got}")
    if spec.kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise SettingsError(f"{where} must be an integer, got {got}")
    if spec.kind is str and not isinstance(value, str):
        raise SettingsError(f"{where} must be a string, got {got}")
    return value


_LIST_OF: dict[type, str] = {
    NodeAddress: "a list of redis:// URLs",
    ClientUser: 'a table of user names to passwords, or a list of "NAME:PASSWORD"',
    str: "a list of strings",
}


def _item(spec: SettingField, item: object, where: str) -> object:
    if not isinstance(item, str):
        got = "a value of another type" if spec.secret else repr(item)
        raise SettingsError(f"{where} must be {_LIST_OF[spec.kind]}, got {got}")
    if spec.kind is str:
        return item
    parse = NodeAddress.parse if spec.kind is NodeAddress else ClientUser.parse
    try:
        return parse(item)
    except ValueError as error:
        raise SettingsError(f"{where}: {error}") from None


def _user(name: object, password: object, where: str) -> ClientUser:
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise SettingsError(f"{where}: each user needs a non-empty name and password string")
    return ClientUser(name, password)


def _validate(settings: Settings, specs: Mapping[str, SettingField]) -> None:
    rep = settings.replication
    if rep.n < 1:
        raise SettingsError(f"{_label(specs['replication.n'])} must be at least 1, got {rep.n}")
    for name in ("w", "r"):
        quorum = getattr(rep, name)
        if not 1 <= quorum <= rep.n:
            raise SettingsError(
                f"{_label(specs['replication.' + name])} = {quorum} must be between 1 and "
                f"n = {rep.n}"
            )
    low, high = _PROXY_ID_RANGE
    if rep.proxy_id is not None and not low <= rep.proxy_id <= high:
        raise SettingsError(
            f"{_label(specs['replication.proxy_id'])} = {rep.proxy_id} must be between "
            f"{low} and {high}"
        )
    workers = settings.listen.workers
    if rep.proxy_id is not None and workers > 1 and rep.proxy_id + workers - 1 > high:
        raise SettingsError(
            f"{_label(specs['replication.proxy_id'])} = {rep.proxy_id} with "
            f"{_label(specs['listen.workers'])} = {workers}: the workers take ids "
            f"{rep.proxy_id}..{rep.proxy_id + workers - 1}, past {high}; choose a proxy_id of "
            f"at most {high - workers + 1}"
        )
    for spec in specs.values():
        if spec.kind is int and spec.name not in ("n", "w", "r", "proxy_id", "idle_timeout_s"):
            value = getattr(getattr(settings, spec.section), spec.name)
            if value <= 0:
                raise SettingsError(f"{_label(spec)} must be positive, got {value}")

    nodes_label = _label(specs["replication.nodes"])
    if rep.nodes and len(rep.nodes) < rep.n:
        count = f"{len(rep.nodes)} node" + ("s" if len(rep.nodes) > 1 else "")
        raise SettingsError(
            f"{nodes_label} lists {count} but n = {rep.n}; "
            f"list at least n nodes, or set n to {len(rep.nodes)}"
        )
    seen: set[tuple[str, int]] = set()
    for node in rep.nodes:
        if (node.host, node.port) in seen:
            raise SettingsError(f"node {node.endpoint} is listed twice in {nodes_label}")
        seen.add((node.host, node.port))

    try:
        parse_endpoint(settings.listen.address)
    except ValueError as error:
        raise SettingsError(f"{_label(specs['listen.address'])}: {error}") from None
    _validate_listen(settings, specs)
    _validate_clock(settings, specs)
    if settings.metrics.listen is not None:
        _validate_metrics(settings.metrics.listen, settings.listen.workers, specs)
    _validate_log(settings, specs)


def _validate_listen(settings: Settings, specs: Mapping[str, SettingField]) -> None:
    listen = settings.listen
    label = {name: _label(specs[f"listen.{name}"]) for name in _LISTEN_CHECKED}
    if listen.idle_timeout_s < 0:
        raise SettingsError(
            f"{label['idle_timeout_s']} must be 0 (never) or positive, got {listen.idle_timeout_s}"
        )
    if listen.max_clients < listen.workers:
        raise SettingsError(
            f"{label['max_clients']} = {listen.max_clients} is split among "
            f"{label['workers']} = {listen.workers}: give at least one client per worker"
        )
    names = [user.name for user in listen.users]
    if "default" in names:
        raise SettingsError(
            f"{label['users']} must not list 'default': its password is {label['requirepass']}"
        )
    if len(set(names)) != len(names):
        raise SettingsError(f"{label['users']} lists a user name more than once")
    if (listen.tls_cert_file is None) != (listen.tls_key_file is None):
        raise SettingsError(
            f"{label['tls_cert_file']} and {label['tls_key_file']} must be set together"
        )
    if listen.tls_ca_file is not None and listen.tls_cert_file is None:
        raise SettingsError(f"{label['tls_ca_file']} needs {label['tls_cert_file']} set too")
    if listen.tls_require_client_cert and listen.tls_ca_file is None:
        raise SettingsError(
            f"{label['tls_require_client_cert']} needs {label['tls_ca_file']} to verify "
            "client certificates against"
        )


def _validate_metrics(address: str, workers: int, specs: Mapping[str, SettingField]) -> None:
    label = _label(specs["metrics.listen"])
    try:
        port = parse_endpoint(address)[1]
    except ValueError as error:
        raise SettingsError(f"{label}: {error}") from None
    if port and port + workers - 1 > 65535:
        raise SettingsError(
            f"{label} = {address!r} with {_label(specs['listen.workers'])} = {workers}: the "
            f"workers serve metrics on ports {port}..{port + workers - 1}, past 65535"
        )


_LISTEN_CHECKED = (
    "idle_timeout_s",
    "max_clients",
    "workers",
    "users",
    "requirepass",
    "tls_cert_file",
    "tls_key_file",
    "tls_ca_file",
    "tls_require_client_cert",
)
_CLOCK_OFFSET_ACTIONS = ("refuse", "warn")


def _validate_clock(settings: Settings, specs: Mapping[str, SettingField]) -> None:
    rep = settings.replication
    if rep.clock_offset_action not in _CLOCK_OFFSET_ACTIONS:
        raise SettingsError(
            f"{_label(specs['replication.clock_offset_action'])} must be refuse or warn, "
            f"got {rep.clock_offset_action!r}"
        )
    for server in rep.ntp_servers:
        try:
            parse_ntp_server(server)
        except ValueError as error:
            raise SettingsError(f"{_label(specs['replication.ntp_servers'])}: {error}") from None


def _validate_log(settings: Settings, specs: Mapping[str, SettingField]) -> None:
    for name, allowed in (("level", LOG_LEVELS), ("format", LOG_FORMATS)):
        value = getattr(settings.log, name)
        if value not in allowed:
            raise SettingsError(
                f"{_label(specs['log.' + name])} must be one of {', '.join(allowed)}, got {value!r}"
            )
