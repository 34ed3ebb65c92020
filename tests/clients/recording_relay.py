"""A TCP relay in front of a server that records the error replies it passes back.

A client suite talks to the relay as if it were the server; the relay copies bytes both ways
unchanged and parses only the server's replies (hiredis, RESP2 and RESP3), keeping a count of
each error, nested ones (inside an EXEC reply) included. Comparing the counts taken in front of
the reference with those taken in front of the proxy shows what a client sent that the proxy
refused and the reference did not.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections import Counter

import hiredis

CHUNK = 65536
_UNKNOWN = re.compile(r"unknown (sub)?command '([^']*)'")


def error_kind(text: str) -> str:
    """An error reply's text without what varies per request: `unknown command 'INCRBY'` for
    every INCRBY refused, whatever its arguments."""
    match = _UNKNOWN.search(text)
    if match:
        return f"unknown {match.group(1) or ''}command '{match.group(2).upper()}'"
    return text[:100]


def _errors_in(reply: object) -> list[str]:
    if isinstance(reply, hiredis.ReplyError):
        return [error_kind(str(reply))]
    if isinstance(reply, dict):
        return [kind for pair in reply.items() for part in pair for kind in _errors_in(part)]
    if isinstance(reply, list | tuple | set):
        return [kind for part in reply for kind in _errors_in(part)]
    return []


class RecordingRelay:
    """Listens on a free loopback port and relays each connection to `upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._errors: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def take_errors(self) -> Counter[str]:
        """The errors counted since the last call, and a fresh count."""
        with self._lock:
            taken, self._errors = self._errors, Counter()
        return taken

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, None), daemon=True).start()
            reader = hiredis.Reader(notEnoughData=False)
            threading.Thread(target=self._pump, args=(server, client, reader), daemon=True).start()

    def _pump(
        self, source: socket.socket, sink: socket.socket, reader: hiredis.Reader | None
    ) -> None:
        try:
            while data := source.recv(CHUNK):
                if reader is not None and not self._record(reader, data):
                    reader = None
                sink.sendall(data)  # after counting: a client that has its reply sees it counted
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _record(self, reader: hiredis.Reader, data: bytes) -> bool:
        """Count the errors among the replies `data` completes; False once the stream cannot be
        parsed (the bytes still pass, unrecorded)."""
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                errors = _errors_in(reply)
                if errors:
                    with self._lock:
                        self._errors.update(errors)
        except hiredis.ProtocolError:
            return False
        return True
