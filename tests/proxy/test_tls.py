"""The TLS context built from [listen] settings."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from leaderless.config.settings import ListenSettings
from leaderless.proxy.tls import server_context

from tests.support.certificates import make_certificates


def test_no_certificate_no_tls() -> None:
    assert server_context(ListenSettings()) is None


def test_client_certificates_asked_for_and_required(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    files = {"tls_cert_file": str(certs.server_cert), "tls_key_file": str(certs.server_key)}
    plain = server_context(ListenSettings(**files))
    assert plain is not None and plain.verify_mode == ssl.CERT_NONE
    optional = server_context(ListenSettings(**files, tls_ca_file=str(certs.ca)))
    assert optional is not None and optional.verify_mode == ssl.CERT_OPTIONAL
    required = server_context(
        ListenSettings(**files, tls_ca_file=str(certs.ca), tls_require_client_cert=True)
    )
    assert required is not None and required.verify_mode == ssl.CERT_REQUIRED
    assert required.minimum_version == ssl.TLSVersion.TLSv1_2


def test_unloadable_files_name_the_setting(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(OSError, match=r"cannot load listen.tls_cert_file / listen.tls_key_file"):
        server_context(ListenSettings(tls_cert_file=missing, tls_key_file=missing))
    with pytest.raises(OSError, match=r"cannot load listen.tls_ca_file \(.*missing.pem\)"):
        server_context(
            ListenSettings(
                tls_cert_file=str(certs.server_cert),
                tls_key_file=str(certs.server_key),
                tls_ca_file=missing,
            )
        )
