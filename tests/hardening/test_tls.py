"""TLS for clients: a redis-py client with ssl=True talks to the proxy; plain-text clients and,
when client certificates are required, clients without a trusted one are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.hardening.conftest import StartProxy
from tests.integration.conftest import ProxyProcess
from tests.support.certificates import Certificates, make_certificates
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "certs")


def tls_client(proxy: ProxyProcess, certs: Certificates, **options: object) -> redis.Redis:
    return proxy.client(
        ssl=True,
        ssl_ca_certs=str(certs.ca),
        ssl_check_hostname=True,
        retry=Retry(NoBackoff(), 0),  # a refused connection is the answer, not a blip
        **options,
    )


def server_flags(certs: Certificates) -> tuple[str, ...]:
    return ("--tls-cert-file", str(certs.server_cert), "--tls-key-file", str(certs.server_key))


def test_tls_client_reads_and_writes(proxy_with: StartProxy, certs: Certificates) -> None:
    proxy = proxy_with(*server_flags(certs))
    assert wait_for(
        lambda: (
            "clients connect with TLS (client certificates not asked for)" in proxy.output.text()
        )
    )
    client = tls_client(proxy, certs)
    assert client.set("k", "over tls")
    assert client.get("k") == b"over tls"
    with pytest.raises(redis.ConnectionError):
        proxy.client(
            retry=Retry(NoBackoff(), 0)
        ).ping()  # plain text is not spoken on a TLS listener
    assert client.ping()


def test_required_client_certificate(proxy_with: StartProxy, certs: Certificates) -> None:
    proxy = proxy_with(
        *server_flags(certs),
        "--tls-ca-file",
        str(certs.ca),
        "--tls-require-client-cert",
        "yes",
    )
    trusted = tls_client(
        proxy, certs, ssl_certfile=str(certs.client_cert), ssl_keyfile=str(certs.client_key)
    )
    assert trusted.set("k", "v")
    assert trusted.get("k") == b"v"
    for options in (
        {},
        {"ssl_certfile": str(certs.stranger_cert), "ssl_keyfile": str(certs.stranger_key)},
    ):
        with pytest.raises(redis.ConnectionError):
            tls_client(proxy, certs, **options).ping()
    assert trusted.ping()


def test_optional_client_certificate(proxy_with: StartProxy, certs: Certificates) -> None:
    proxy = proxy_with(*server_flags(certs), "--tls-ca-file", str(certs.ca))
    assert tls_client(proxy, certs).ping()
    with pytest.raises(redis.ConnectionError):
        stranger = {
            "ssl_certfile": str(certs.stranger_cert),
            "ssl_keyfile": str(certs.stranger_key),
        }
        tls_client(proxy, certs, **stranger).ping()
