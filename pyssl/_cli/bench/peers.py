"""What the benchmark's workloads share: the certificate files, the
description of a workload, contexts for both ends, a server thread on
loopback and a timing loop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Files:
    """Certificate chains (key + self-signed certificate, PEM) per key type."""

    ec: str
    rsa: str

    def chain(self, key: str) -> str:
        return self.ec if key == "ec" else self.rsa


@dataclass(frozen=True)
class Workload:
    name: str
    unit: str
    higher_is_better: bool
    run: Callable[[Any, Files, float], float]
    # What the workload needs: a program ("openssl"), or SYSTEM_CA_BUNDLE.
    needs: str = ""


# ---- contexts and a server thread ------------------------------------------------


def contexts(
    ssl: Any,
    files: Files,
    key: str = "ec",
    version: str = "TLSv1_3",
    alpn: bool = False,
) -> tuple[Any, Any]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.chain(key))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(files.chain(key))
    for ctx in (server, client):
        ctx.maximum_version = getattr(ssl.TLSVersion, version)
        if alpn:
            ctx.set_alpn_protocols(["h2", "http/1.1"])
    return server, client


class Server:
    """Accepts connections in a thread and runs ``serve(tls_socket)`` on
    each, one at a time, until stopped."""

    def __init__(self, ssl: Any, context: Any, serve: Callable[[Any], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = self.listener.getsockname()
        self.context = context
        self.serve = serve
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            no_delay(conn)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.serve(tls)
            except OSError:
                pass

    def close(self) -> None:
        # Closing alone does not wake a thread blocked in accept() on Linux;
        # shutting the listener down does.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(10)


def no_delay(sock: socket.socket) -> socket.socket:
    # Small handshake flights must not wait for Nagle's algorithm and the
    # peer's delayed ACK (40 ms on Linux): that would measure the timers.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect(address: Any) -> socket.socket:
    return no_delay(socket.create_connection(address))


def timed(seconds: float, step: Callable[[], int]) -> float:
    """Repeat ``step`` (which returns how much it did) for ``seconds``;
    returns the amount per second."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        done += step()
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)
