"""Protected mode: which listen addresses need a password."""

from __future__ import annotations

import pytest
from leaderless.config.settings import ClientUser, ListenSettings
from leaderless.proxy.server import protected_mode_refusal


@pytest.mark.parametrize("address", ["127.0.0.1:6380", "127.9.9.9:1", "[::1]:6380", "localhost:1"])
def test_loopback_needs_no_password(address: str) -> None:
    assert protected_mode_refusal(ListenSettings(address=address)) is None


@pytest.mark.parametrize("address", ["0.0.0.0:6380", "[::]:1", "192.168.1.5:1", "db.example:1"])
def test_open_address_needs_a_password_or_an_explicit_opt_out(address: str) -> None:
    refusal = protected_mode_refusal(ListenSettings(address=address))
    assert refusal is not None
    assert refusal.startswith(f"protected mode: listen.address = {address} is not a loopback")
    for allowed in (
        ListenSettings(address=address, requirepass="pw"),
        ListenSettings(address=address, users=(ClientUser("alice", "pw"),)),
        ListenSettings(address=address, protected_mode=False),
    ):
        assert protected_mode_refusal(allowed) is None
