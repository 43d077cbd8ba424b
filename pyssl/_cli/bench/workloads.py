"""The benchmark's workloads, each written once against an ssl module.

A workload is a function ``(ssl, files, seconds) -> float`` that measures
for about ``seconds`` and returns one number in the workload's unit. Both
ends of a connection use the module under test, except the round trips,
whose peer is the ``openssl s_server`` program so that only the client side
is Python.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import subprocess
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


def _contexts(
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


class _Server:
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
            _no_delay(conn)
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


def _no_delay(sock: socket.socket) -> socket.socket:
    # Small handshake flights must not wait for Nagle's algorithm and the
    # peer's delayed ACK (40 ms on Linux): that would measure the timers.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connect(address: Any) -> socket.socket:
    return _no_delay(socket.create_connection(address))


def _timed(seconds: float, step: Callable[[], int]) -> float:
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


# ---- handshakes ------------------------------------------------------------------


def _handshakes(
    key: str, version: str, resumed: bool = False
) -> Callable[[Any, Files, float], float]:
    def run(ssl: Any, files: Files, seconds: float) -> float:
        server_ctx, client_ctx = _contexts(ssl, files, key, version)

        def serve(tls: Any) -> None:
            # One byte after the handshake carries the TLS 1.3 tickets.
            tls.sendall(b"x")
            tls.recv(1)

        server = _Server(ssl, server_ctx, serve)
        session = None
        reused = 0

        def one() -> int:
            nonlocal session, reused
            with _connect(server.address) as raw:
                with client_ctx.wrap_socket(
                    raw, server_hostname="localhost", session=session
                ) as tls:
                    tls.recv(1)
                    tls.sendall(b"y")
                    if resumed:
                        reused += tls.session_reused
                        if session is None:
                            session = tls.session
            return 1

        try:
            rate = _timed(seconds, one)
        finally:
            server.close()
        if resumed and reused == 0:
            raise RuntimeError("no handshake was resumed")
        return rate

    return run


# ---- bulk data over loopback -----------------------------------------------------


def _bulk(chunk: int) -> Callable[[Any, Files, float], float]:
    def run(ssl: Any, files: Files, seconds: float) -> float:
        server_ctx, client_ctx = _contexts(ssl, files)
        stop = threading.Event()
        payload = os.urandom(chunk)

        def serve(tls: Any) -> None:
            while not stop.is_set():
                tls.sendall(payload)

        server = _Server(ssl, server_ctx, serve)
        buf = bytearray(chunk)
        view = memoryview(buf)
        try:
            with _connect(server.address) as raw:
                with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.recv_into(view)  # the transfer is under way
                    rate = _timed(seconds, lambda: _fill(tls, view, chunk))
                    stop.set()
        finally:
            server.close()
        return rate / MIB

    return run


def _fill(tls: Any, view: memoryview, size: int) -> int:
    got = 0
    while got < size:
        got += tls.recv_into(view[got:])
    return got


# ---- round trips against a C peer -------------------------------------------------


def _one_core() -> Callable[[], None]:
    """Pin this process, and the programs it starts, to one core; returns
    what undoes it. A round trip between two processes on two cores costs
    a cross-core wake-up each way, and where the scheduler puts s_server
    would decide the result, for either module; pinned, runs of one module
    agree closely and measure the work done."""
    if not hasattr(os, "sched_setaffinity"):
        return lambda: None
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    return lambda: os.sched_setaffinity(0, cores)


def _round_trips(ssl: Any, files: Files, seconds: float) -> float:
    unpin = _one_core()
    proc = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-cert",
            files.ec,
            "-key",
            files.ec,
            "-rev",
            "-naccept",
            "1",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        port = None
        for line in proc.stdout:
            if line.startswith(b"ACCEPT"):
                port = int(line.rsplit(b":", 1)[1])
                break
        if port is None:
            raise RuntimeError("openssl s_server did not start")
        # Keep reading what it prints, so that it never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        _, client_ctx = _contexts(ssl, files)
        message = b"m" * 63 + b"\n"
        expected = message[-2::-1] + b"\n"
        buf = bytearray(64)
        with _connect(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:

                def one() -> int:
                    tls.sendall(message)
                    got = 0
                    while got < 64:
                        got += tls.recv_into(memoryview(buf)[got:])
                    if buf != expected:
                        raise RuntimeError("the echo came back wrong")
                    return 1

                return _timed(seconds, one)
    finally:
        proc.kill()
        proc.wait()
        unpin()


# ---- SSLObject over MemoryBIO (the asyncio path, without sockets) ---------------


def memory_pair(
    ssl: Any, server_ctx: Any, client_ctx: Any
) -> tuple[Any, Any, Any, Any]:
    """A client and a server SSLObject over memory BIOs, handshake done:
    (client, server, the client's incoming BIO, the server's outgoing BIO)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = [False, False]
    while not all(done):
        for i, side in enumerate((client, server)):
            if not done[i]:
                try:
                    side.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    return client, server, c_in, s_out


def _memory_bio(ssl: Any, files: Files, seconds: float) -> float:
    client, server, c_in, s_out = memory_pair(ssl, *_contexts(ssl, files))
    chunk = os.urandom(16 * KIB)
    buf = bytearray(16 * KIB)

    def one() -> int:
        server.write(chunk)
        c_in.write(s_out.read())
        got = 0
        while got < len(chunk):
            got += client.read(len(chunk) - got, memoryview(buf)[got:])
        return got

    return _timed(seconds, one) / MIB


# ---- asyncio streams ----------------------------------------------------------------


def _asyncio_bulk(ssl: Any, files: Files, seconds: float) -> float:
    import asyncio

    server_ctx, client_ctx = _contexts(ssl, files)
    chunk = os.urandom(64 * KIB)

    async def main() -> float:
        stop = asyncio.Event()
        served = asyncio.Event()

        async def serve(reader: Any, writer: Any) -> None:
            try:
                while not stop.is_set():
                    writer.write(chunk)
                    await writer.drain()
            except ConnectionError:
                pass  # the client closed while this waited to write
            finally:
                writer.close()
                served.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
        )
        await reader.readexactly(64 * KIB)
        total = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            total += len(await reader.read(64 * KIB))
        rate = total / (time.perf_counter() - start)
        stop.set()
        writer.close()
        server.close()
        # The server's task ends by itself once the client is gone: left
        # waiting in drain(), asyncio.run() would cancel it, and CPython
        # 3.11's streams then log the cancellation as an error.
        await asyncio.wait([asyncio.ensure_future(served.wait())], timeout=10)
        return rate

    return asyncio.run(main()) / MIB


def _asyncio_round_trips(ssl: Any, files: Files, seconds: float) -> float:
    import asyncio

    server_ctx, client_ctx = _contexts(ssl, files)

    async def main() -> float:
        async def serve(reader: Any, writer: Any) -> None:
            while data := await reader.read(64):
                writer.write(data)
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
        )
        message = b"r" * 64
        count = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            writer.write(message)
            await reader.readexactly(64)
            count += 1
        rate = count / (time.perf_counter() - start)
        writer.close()
        server.close()
        return rate

    return asyncio.run(main())


# ---- per-call latency of getters ----------------------------------------------------


def _getter(
    name: str, call: Callable[[Any], Any]
) -> Callable[[Any, Files, float], float]:
    def run(ssl: Any, files: Files, seconds: float) -> float:
        server_ctx, client_ctx = _contexts(ssl, files, alpn=True)
        server = _Server(ssl, server_ctx, lambda tls: tls.recv(1))
        try:
            with _connect(server.address) as raw:
                with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    call(tls)
                    batch = 1000
                    calls = 0
                    start = time.perf_counter()
                    while time.perf_counter() - start < seconds:
                        for _ in range(batch):
                            call(tls)
                        calls += batch
                    elapsed = time.perf_counter() - start
                    tls.sendall(b"x")
        finally:
            server.close()
        return elapsed / calls * 1e9

    return run


# ---- memory ---------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_per_1000(ssl: Any, files: Files, seconds: float) -> float:
    """Resident memory added by 1,000 established, idle connections (both
    ends in this process), in KiB."""
    count = 1000
    server_ctx, client_ctx = _contexts(ssl, files)
    listener = socket.create_server(("127.0.0.1", 0), backlog=count)
    address = listener.getsockname()
    servers: list[Any] = []

    def accept_all() -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            servers.append(server_ctx.wrap_socket(_no_delay(conn), server_side=True))

    # Warm up allocators and caches with one connection first.
    with socket.create_connection(address) as raw:
        acceptor = threading.Thread(target=lambda: listener.accept()[0].close())
        acceptor.start()
        acceptor.join()
    gc.collect()
    before = _rss_bytes()
    thread = threading.Thread(target=accept_all)
    thread.start()
    clients = []
    for _ in range(count):
        raw = _connect(address)
        clients.append(client_ctx.wrap_socket(raw, server_hostname="localhost"))
    thread.join()
    gc.collect()
    after = _rss_bytes()
    for tls in clients + servers:
        tls.close()
    listener.close()
    return (after - before) / KIB


# ---- CA certificates ------------------------------------------------------------


SYSTEM_CA_BUNDLE = "the system's CA bundle"


def system_ca_bundle() -> str | None:
    """The file of CA certificates OpenSSL loads by default, if there is one."""
    import pyssl

    path = pyssl.get_default_verify_paths().openssl_cafile
    return path if os.path.isfile(path) else None


def _microseconds_per_call(
    seconds: float,
    call: Callable[[Any], Any],
    prepare: Callable[[], Any] = lambda: None,
) -> float:
    """Time ``call(prepare())`` alone, repeated for about ``seconds``;
    microseconds per call. What ``call`` returns is dropped inside the
    timing: freeing a context is part of its cost."""
    calls = 0
    spent = 0.0
    deadline = time.perf_counter() + seconds
    while calls == 0 or time.perf_counter() < deadline:
        argument = prepare()
        start = time.perf_counter()
        call(argument)
        spent += time.perf_counter() - start
        calls += 1
        del argument
    return spent / calls * 1e6


def _default_context_warm(ssl: Any, files: Files, seconds: float) -> float:
    ssl.create_default_context()
    return _microseconds_per_call(seconds, lambda _: ssl.create_default_context())


def _default_context_first(ssl: Any, files: Files, seconds: float) -> float:
    # Each measurement is a fresh process (child.py): this call is the
    # first of the process, whatever ``seconds`` says.
    start = time.perf_counter()
    ssl.create_default_context()
    return (time.perf_counter() - start) * 1e3


def _load_bundle_warm(ssl: Any, files: Files, seconds: float) -> float:
    bundle = system_ca_bundle()
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=bundle)
    return _microseconds_per_call(
        seconds,
        lambda ctx: ctx.load_verify_locations(cafile=bundle),
        prepare=lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
    )


def _urlopen(ssl: Any, files: Files, seconds: float) -> float:
    """``urllib.request.urlopen()`` of a local HTTPS server: urllib makes a
    new default context for each request. The server's certificate is
    trusted through SSL_CERT_FILE: the system bundle plus that certificate,
    which every default context then loads."""
    import tempfile
    import urllib.request

    bundle = system_ca_bundle()
    assert bundle is not None
    with open(files.ec, "rb") as f:
        chain = f.read()
    certificate = chain[chain.index(b"-----BEGIN CERTIFICATE-----") :]
    with tempfile.NamedTemporaryFile(suffix=".pem", delete=False) as trusted:
        with open(bundle, "rb") as f:
            trusted.write(f.read().rstrip(b"\n") + b"\n" + certificate)
    os.environ["SSL_CERT_FILE"] = trusted.name
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.ec)
    body = b"ok"
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % len(body)
        + body
    )

    def serve(tls: Any) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            data = tls.recv(4096)
            if not data:
                return
            request += data
        tls.sendall(response)

    server = _Server(ssl, server_ctx, serve)
    url = f"https://localhost:{server.address[1]}/"

    def one() -> int:
        with urllib.request.urlopen(url, timeout=30) as reply:
            if reply.read() != body:
                raise RuntimeError("the server's answer came back wrong")
        return 1

    try:
        one()
        return _timed(seconds, one)
    finally:
        server.close()
        os.unlink(trusted.name)


WORKLOADS: list[Workload] = [
    Workload(
        "handshakes TLS 1.3 ECDSA P-256", "/s", True, _handshakes("ec", "TLSv1_3")
    ),
    Workload("handshakes TLS 1.3 RSA-2048", "/s", True, _handshakes("rsa", "TLSv1_3")),
    Workload(
        "handshakes TLS 1.2 ECDSA P-256", "/s", True, _handshakes("ec", "TLSv1_2")
    ),
    Workload("handshakes TLS 1.2 RSA-2048", "/s", True, _handshakes("rsa", "TLSv1_2")),
    Workload(
        "resumed handshakes TLS 1.2",
        "/s",
        True,
        _handshakes("ec", "TLSv1_2", resumed=True),
    ),
    Workload(
        "resumed handshakes TLS 1.3",
        "/s",
        True,
        _handshakes("ec", "TLSv1_3", resumed=True),
    ),
    Workload("bulk 16 KiB writes, recv_into", "MiB/s", True, _bulk(16 * KIB)),
    Workload("bulk 64 KiB writes, recv_into", "MiB/s", True, _bulk(64 * KIB)),
    Workload(
        "64-byte round trips vs s_server", "/s", True, _round_trips, needs="openssl"
    ),
    Workload("SSLObject/MemoryBIO 16 KiB", "MiB/s", True, _memory_bio),
    Workload("asyncio streams bulk", "MiB/s", True, _asyncio_bulk),
    Workload("asyncio streams round trips", "/s", True, _asyncio_round_trips),
    Workload("pending()", "ns/call", False, _getter("pending", lambda s: s.pending())),
    Workload("version()", "ns/call", False, _getter("version", lambda s: s.version())),
    Workload(
        "selected_alpn_protocol()",
        "ns/call",
        False,
        _getter("alpn", lambda s: s.selected_alpn_protocol()),
    ),
    Workload("cipher()", "ns/call", False, _getter("cipher", lambda s: s.cipher())),
    Workload(
        "getpeercert()",
        "ns/call",
        False,
        _getter("getpeercert", lambda s: s.getpeercert()),
    ),
    Workload("memory per 1,000 connections", "KiB", False, _memory_per_1000),
    Workload(
        "CA bundle: create_default_context() warm",
        "µs/call",
        False,
        _default_context_warm,
        needs=SYSTEM_CA_BUNDLE,
    ),
    Workload(
        "CA bundle: create_default_context() first in process",
        "ms",
        False,
        _default_context_first,
        needs=SYSTEM_CA_BUNDLE,
    ),
    Workload(
        "CA bundle: load_verify_locations(cafile) warm",
        "µs/call",
        False,
        _load_bundle_warm,
        needs=SYSTEM_CA_BUNDLE,
    ),
    Workload(
        "CA bundle: urlopen() of a local HTTPS server",
        "/s",
        True,
        _urlopen,
        needs=SYSTEM_CA_BUNDLE,
    ),
]

BY_NAME = {w.name: w for w in WORKLOADS}


def available(workload: Workload) -> bool:
    if workload.needs == SYSTEM_CA_BUNDLE:
        return system_ca_bundle() is not None
    return not workload.needs or shutil.which(workload.needs) is not None
