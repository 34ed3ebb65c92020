"""TLS for client connections: the server-side `ssl.SSLContext` built from [listen] settings.

With `tls_cert_file` (and its `tls_key_file`) set, the listener speaks only TLS, as a Redis
`tls-port` does. With `tls_ca_file` set too, clients may present a certificate, which must then
be signed by one of those CAs; `tls_require_client_cert` makes one mandatory (Redis's
`tls-auth-clients yes`). The protocol floor is TLS 1.2, the standard library's default ciphers
otherwise.
"""

from __future__ import annotations

import ssl

from leaderless.config.settings import ListenSettings


def server_context(listen: ListenSettings) -> ssl.SSLContext | None:
    """The context to wrap client connections in, or None when TLS is not configured.
    Raises OSError naming the setting whose file cannot be loaded."""
    if listen.tls_cert_file is None or listen.tls_key_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # An encrypted key fails here rather than prompting for its passphrase on a terminal.
        context.load_cert_chain(listen.tls_cert_file, listen.tls_key_file, password=b"")
    except (OSError, ssl.SSLError) as error:
        raise OSError(
            "cannot load listen.tls_cert_file / listen.tls_key_file "
            f"({listen.tls_cert_file}, {listen.tls_key_file}): {_reason(error)}"
        ) from None
    if listen.tls_ca_file is not None:
        try:
            context.load_verify_locations(cafile=listen.tls_ca_file)
        except (OSError, ssl.SSLError) as error:
            raise OSError(
                f"cannot load listen.tls_ca_file ({listen.tls_ca_file}): {_reason(error)}"
            ) from None
        context.verify_mode = (
            ssl.CERT_REQUIRED if listen.tls_require_client_cert else ssl.CERT_OPTIONAL
        )
    return context


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
