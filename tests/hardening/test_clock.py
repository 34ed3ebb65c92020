"""The clock check against NTP, driven by a local NTP responder whose offset the test sets:
writes are refused while the proxy's clock is out of bounds (reads still served), resume when
it is back, and are only warned about with clock_offset_action = warn."""

from __future__ import annotations

import pytest
import redis

from tests.hardening.conftest import StartProxy, info
from tests.support.ntp_responder import NtpResponder
from tests.support.processes import wait_for

pytestmark = pytest.mark.integration

FAST_NTP = ("--ntp-interval-ms", "50", "--max-clock-offset-ms", "500")


def clock_flags(ntp: NtpResponder, *extra: str) -> tuple[str, ...]:
    return ("--ntp-server", ntp.address, *FAST_NTP, *extra)


def measured_offset_near(client: redis.Redis, offset_ms: int) -> bool:
    fields = info(client)
    offset = fields["clock_offset_ms"]
    return isinstance(offset, int) and abs(offset - offset_ms) < 200


def test_writes_refused_while_the_clock_is_off_and_resume_after(proxy_with: StartProxy) -> None:
    with NtpResponder(offset_s=0.05) as ntp:
        proxy = proxy_with(*clock_flags(ntp))
        client = proxy.client()
        assert wait_for(lambda: measured_offset_near(client, 50))
        assert info(client)["clock_in_bounds"] == 1
        assert 0 <= int(info(client)["clock_offset_age_ms"]) < 10_000  # type: ignore[call-overload]
        assert client.set("k", "before")

        ntp.offset_s = 2.0
        assert wait_for(lambda: info(client)["clock_writes_refused"] == 1)
        assert info(client)["clock_in_bounds"] == 0
        for write in (
            lambda: client.set("k", "during"),
            lambda: client.mset({"a": "1", "b": "2"}),
            lambda: client.delete("k"),
            lambda: client.flushall(),
        ):
            with pytest.raises(redis.ResponseError) as refused:
                write()
            text = str(refused.value)
            assert text.startswith("CLOCKSKEW write refused: this proxy's clock is ")
            assert "ms behind NTP time (replication.max_clock_offset_ms is 500)" in text
            assert "writes resume when the clock is back in bounds" in text
        assert client.get("k") == b"before"  # reads are served
        assert client.ping()

        ntp.offset_s = -0.1
        assert wait_for(lambda: info(client)["clock_writes_refused"] == 0)
        assert info(client)["clock_in_bounds"] == 1
        assert client.set("k", "after")
        assert client.get("k") == b"after"
        output = proxy.output.text()
        assert "clock out of bounds: this proxy's clock is" in output
        assert "writes are refused" in output
        assert "clock back in bounds" in output


def test_warn_mode_logs_and_keeps_writing(proxy_with: StartProxy) -> None:
    with NtpResponder(offset_s=-2.0) as ntp:
        proxy = proxy_with(*clock_flags(ntp, "--clock-offset-action", "warn"))
        client = proxy.client()
        assert wait_for(lambda: info(client)["clock_in_bounds"] == 0)
        assert info(client)["clock_writes_refused"] == 0
        assert client.set("k", "v")
        assert client.get("k") == b"v"
        assert wait_for(lambda: "clock out of bounds" in proxy.output.text())
        assert "ms ahead of NTP time" in proxy.output.text()
        assert "writes continue" in proxy.output.text()


def test_without_ntp_servers_it_says_so_once(proxy_with: StartProxy) -> None:
    proxy = proxy_with()
    client = proxy.client()
    assert client.set("k", "v")
    fields = info(client)
    assert fields["clock_offset_ms"] == "unknown"
    assert fields["clock_offset_age_ms"] == -1
    assert fields["clock_writes_refused"] == 0
    assert proxy.output.text().count("no NTP server configured") == 1


def test_an_unanswering_ntp_server_leaves_writes_allowed(proxy_with: StartProxy) -> None:
    with NtpResponder() as ntp:
        address = ntp.address
    # Nothing listens there now: every measurement times out and the check stands as it was.
    proxy = proxy_with("--ntp-server", address, "--ntp-interval-ms", "50")
    assert wait_for(lambda: "no NTP server answered" in proxy.output.text())
    client = proxy.client()
    assert client.set("k", "v")
    assert info(client)["clock_offset_ms"] == "unknown"
