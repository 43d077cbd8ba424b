"""The benchmark's workloads, each written once against an ssl module.

A workload is a function ``(ssl, files, seconds) -> float`` that measures
for about ``seconds`` and returns one number in the workload's unit. Both
ends of a connection use the module under test, except the round trips,
whose peer is the ``openssl s_server`` program so that only the client side
is Python. The loads of CA bundles are in ``ca_bundle.py``, what all
workloads share in ``peers.py``; ``WORKLOADS`` below lists them all.
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
from typing import Any

from pyssl._cli.bench.ca_bundle import (
    SYSTEM_CA_BUNDLE,
    default_context_first,
    default_context_warm,
    load_bundle_warm,
    system_ca_bundle,
    urlopen_local_server,
)
from pyssl._cli.bench.peers import (
    KIB,
    MIB,
    Files,
    Server,
    Workload,
    connect,
    contexts,
    no_delay,
    timed,
)

# ---- handshakes ------------------------------------------------------------------


def _handshakes(
    key: str, version: str, resumed: bool = False
) -> Callable[[Any, Files, float], float]:
    def run(ssl: Any, files: Files, seconds: float) -> float:
        server_ctx, client_ctx = contexts(ssl, files, key, version)

        def serve(tls: Any) -> None:
            # One byte after the handshake carries the TLS 1.3 tickets.
            tls.sendall(b"x")
            tls.recv(1)

        server = Server(ssl, server_ctx, serve)
        session = None
        reused = 0

        def one() -> int:
            nonlocal session, reused
            with connect(server.address) as raw:
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
            rate = timed(seconds, one)
        finally:
            server.close()
        if resumed and reused == 0:
            raise RuntimeError("no handshake was resumed")
        return rate

    return run


# ---- bulk data over loopback -----------------------------------------------------


def _bulk(chunk: int) -> Callable[[Any, Files, float], float]:
    def run(ssl: Any, files: Files, seconds: float) -> float:
        server_ctx, client_ctx = contexts(ssl, files)
        stop = threading.Event()
        payload = os.urandom(chunk)

        def serve(tls: Any) -> None:
            while not stop.is_set():
                tls.sendall(payload)

        server = Server(ssl, server_ctx, serve)
        buf = bytearray(chunk)
        view = memoryview(buf)
        try:
            with connect(server.address) as raw:
                with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.recv_into(view)  # the transfer is under way
                    rate = timed(seconds, lambda: _fill(tls, view, chunk))
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
        _, client_ctx = contexts(ssl, files)
        message = b"m" * 63 + b"\n"
        expected = message[-2::-1] + b"\n"
        buf = bytearray(64)
        with connect(("127.0.0.1", port)) as raw:
            with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:

                def one() -> int:
                    tls.sendall(message)
                    got = 0
                    while got < 64:
                        got += tls.recv_into(memoryview(buf)[got:])
                    if buf != expected:
                        raise RuntimeError("the echo came back wrong")
                    return 1

                return timed(seconds, one)
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
    client, server, c_in, s_out = memory_pair(ssl, *contexts(ssl, files))
    chunk = os.urandom(16 * KIB)
    buf = bytearray(16 * KIB)

    def one() -> int:
        server.write(chunk)
        c_in.write(s_out.read())
        got = 0
        while got < len(chunk):
            got += client.read(len(chunk) - got, memoryview(buf)[got:])
        return got

    return timed(seconds, one) / MIB


# ---- asyncio streams ----------------------------------------------------------------


def _asyncio_bulk(ssl: Any, files: Files, seconds: float) -> float:
    import asyncio

    server_ctx, client_ctx = contexts(ssl, files)
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

    server_ctx, client_ctx = contexts(ssl, files)

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
        server_ctx, client_ctx = contexts(ssl, files, alpn=True)
        server = Server(ssl, server_ctx, lambda tls: tls.recv(1))
        try:
            with connect(server.address) as raw:
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
    server_ctx, client_ctx = contexts(ssl, files)
    listener = socket.create_server(("127.0.0.1", 0), backlog=count)
    address = listener.getsockname()
    servers: list[Any] = []

    def accept_all() -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            servers.append(server_ctx.wrap_socket(no_delay(conn), server_side=True))

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
        raw = connect(address)
        clients.append(client_ctx.wrap_socket(raw, server_hostname="localhost"))
    thread.join()
    gc.collect()
    after = _rss_bytes()
    for tls in clients + servers:
        tls.close()
    listener.close()
    return (after - before) / KIB


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
        default_context_warm,
        needs=SYSTEM_CA_BUNDLE,
    ),
    Workload(
        "CA bundle: create_default_context() first in process",
        "ms",
        False,
        default_context_first,
        needs=SYSTEM_CA_BUNDLE,
    ),
    Workload(
        "CA bundle: load_verify_locations(cafile) warm",
        "µs/call",
        False,
        load_bundle_warm,
        needs=SYSTEM_CA_BUNDLE,
    ),
    Workload(
        "CA bundle: urlopen() of a local HTTPS server",
        "/s",
        True,
        urlopen_local_server,
        needs=SYSTEM_CA_BUNDLE,
    ),
]

BY_NAME = {w.name: w for w in WORKLOADS}


def available(workload: Workload) -> bool:
    if workload.needs == SYSTEM_CA_BUNDLE:
        return system_ca_bundle() is not None
    return not workload.needs or shutil.which(workload.needs) is not None
