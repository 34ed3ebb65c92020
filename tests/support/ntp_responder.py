"""A tiny NTP server for tests: answers NTP v3/v4 client packets on a loopback UDP port with
this machine's time plus a configurable offset, so a proxy's clock can be made to look wrong.

The reply is a stratum-1 server packet (mode 4) whose originate timestamp echoes the client's
transmit timestamp and whose receive and transmit timestamps are `time.time() + offset_s`, so a
client computes an offset of about `offset_s` seconds. Packets that are not client requests
(shorter than 48 bytes, or another mode) are ignored, as a real server does.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from types import TracebackType

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
PACKET = struct.Struct("!BBbbII4sQQQQ")
CLIENT_MODE, SERVER_MODE = 3, 4


def _ntp_timestamp(unix_seconds: float) -> int:
    """64-bit NTP timestamp: 32 bits of seconds since 1900, 32 bits of fraction."""
    return int((unix_seconds + NTP_EPOCH_OFFSET) * (1 << 32))


class NtpResponder:
    """Start with `with NtpResponder() as ntp:`; `ntp.offset_s` may be changed at any time."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self.offset_s = offset_s
        self.requests = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.05)  # how often the thread notices that it should stop
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._socket.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> NtpResponder:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, client = self._socket.recvfrom(512)
            except TimeoutError:
                continue
            reply = self._reply(data)
            if reply is not None:
                self._socket.sendto(reply, client)
                self.requests += 1

    def _reply(self, request: bytes) -> bytes | None:
        if len(request) < PACKET.size:
            return None
        first = request[0]
        version, mode = (first >> 3) & 0x7, first & 0x7
        if mode != CLIENT_MODE or version not in (3, 4):
            return None
        client_transmit = PACKET.unpack_from(request)[10]
        now = _ntp_timestamp(time.time() + self.offset_s)
        return PACKET.pack(
            (version << 3) | SERVER_MODE,  # leap indicator 0: no warning
            1,  # stratum 1: a primary server
            4,  # poll interval, log2 seconds
            -20,  # precision, log2 seconds
            0,  # root delay
            0,  # root dispersion
            b"TEST",  # reference id
            now,  # reference timestamp
            client_transmit,  # originate: the client's transmit timestamp
            now,  # receive
            now,  # transmit
        )
