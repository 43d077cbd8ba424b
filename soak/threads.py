"""Threads soak: pyssl shared between threads, and sockets pulled away
from under a thread, under ``python -X dev`` with faulthandler on.

    python soak/threads.py            # the full run (a few minutes)
    python soak/threads.py --quick    # a short run, for CI
    python soak/threads.py --module stdlib   # the same with the stdlib ssl

Three scenarios, each printing what happened:

shared context
    16 client threads share one client SSLContext and make connections to
    a server whose threads share one server SSLContext (SNI callback that
    switches context, ALPN, session resumption, sockets with and without
    a timeout); every connection sends a random payload and checks the
    echo, and ends with or without a TLS shutdown. No exception at all is
    expected, and every byte must come back.
close while reading
    a thread blocked in recv() (or in the handshake) while another closes
    the socket under it (close(), or shutdown() then close()); the server
    then sends more data and closes. The blocked thread must end with a
    clean result (bytes, b"") or a clean exception (OSError, which
    includes SSLError, or ValueError), never hang or crash. A bystander
    connection opened meanwhile (it may get the closed descriptor's
    number) must receive exactly what was sent to it.
context freed
    contexts dropped by their creator while their sockets live on (the
    server socket switched to a third context that is dropped too): the
    sockets go on working, and once they are closed the contexts are
    freed.

The process exits 1 on any finding, or when it crashes (the parent that
started the ``-X dev`` run reports the signal).
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import random
import socket
import sys
import threading
import time
import weakref
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import dev_mode, make_files, open_fds, rss_kib, scratch_directory  # noqa: E402

TIMEOUT = 20.0
findings: list[str] = []
findings_lock = threading.Lock()


def finding(text: str) -> None:
    with findings_lock:
        findings.append(text)
    print(f"FINDING: {text}", flush=True)


def clean(exc: BaseException) -> bool:
    """Whether ``exc`` is an exception pyssl may raise here."""
    return isinstance(exc, (OSError, ValueError))


def recv_exactly(tls: Any, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = tls.recv(min(size - len(data), 65536))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


# ---- shared context -------------------------------------------------------------


class EchoServer:
    """Accepts connections and echoes each in its own thread, all with one
    server context."""

    def __init__(self, ssl: Any, context: Any) -> None:
        self.ssl = ssl
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.address = self.listener.getsockname()
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.threads: list[threading.Thread] = []
        self.stopping = False
        self.acceptor = threading.Thread(target=self.accept, daemon=True)
        self.acceptor.start()

    def accept(self) -> None:
        while True:
            raw, _ = self.listener.accept()
            if self.stopping:
                raw.close()
                return
            thread = threading.Thread(target=self.echo, args=(raw,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def echo(self, raw: socket.socket) -> None:
        raw.settimeout(TIMEOUT)
        try:
            # b"" only for the client's close_notify, which is answered; a
            # client that just closes gives SSLEOFError.
            with self.context.wrap_socket(
                raw, server_side=True, suppress_ragged_eofs=False
            ) as tls:
                while data := tls.recv(65536):
                    tls.sendall(data)
                tls.unwrap()
                self.outcomes["TLS shutdown"] += 1
        except BaseException as exc:
            self.outcomes[type(exc).__name__] += 1
            if not clean(exc):
                finding(f"server thread: {exc!r}")
        finally:
            raw.close()

    def close(self) -> None:
        # A connection of its own wakes the acceptor, which then stops.
        self.stopping = True
        socket.create_connection(self.address, timeout=TIMEOUT).close()
        self.acceptor.join(TIMEOUT)
        self.listener.close()
        for thread in self.threads:
            thread.join(TIMEOUT)
            if thread.is_alive():
                finding("a server thread did not end")


def shared_context(
    ssl: Any, files: Any, threads: int, per_thread: int
) -> dict[str, Any]:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.chain)
    server_ctx.set_alpn_protocols(["h2", "http/1.1"])
    other_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    other_ctx.load_cert_chain(files.other_chain)
    other_ctx.set_alpn_protocols(["h2", "http/1.1"])

    def sni(tls: Any, name: str | None, ctx: Any) -> None:
        if name == "other.example":
            tls.context = other_ctx

    server_ctx.sni_callback = sni
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(files.ca)
    client_ctx.set_alpn_protocols(["http/1.1", "h2"])
    server = EchoServer(ssl, server_ctx)
    counts: collections.Counter[str] = collections.Counter()
    counts_lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        session = None
        for j in range(per_thread):
            host = "other.example" if j % 3 == 0 else "localhost"
            reuse = session if j % 4 == 1 and host == "localhost" else None
            try:
                raw = socket.create_connection(
                    server.address, timeout=TIMEOUT if j % 2 else None
                )
                with client_ctx.wrap_socket(
                    raw, server_hostname=host, session=reuse
                ) as tls:
                    payload = rng.randbytes(rng.randint(1, 65536))
                    tls.sendall(payload)
                    if recv_exactly(tls, len(payload)) != payload:
                        finding(f"client {number}: the echo differs")
                    if tls.selected_alpn_protocol() != "h2":
                        finding(
                            f"client {number}: ALPN {tls.selected_alpn_protocol()!r}"
                        )
                    subject = dict(x[0] for x in tls.getpeercert()["subject"])
                    expected = "other" if host == "other.example" else None
                    if subject.get("commonName") != expected:
                        finding(f"client {number}: certificate {subject!r} for {host}")
                    with counts_lock:
                        counts["handshakes"] += 1
                        counts["bytes echoed"] += len(payload)
                        counts["resumed"] += bool(tls.session_reused)
                    if host == "localhost":
                        session = tls.session
                    if j % 5 == 0:
                        tls.unwrap()
            except BaseException as exc:
                with counts_lock:
                    counts[type(exc).__name__] += 1
                finding(f"client {number}, connection {j}: {exc!r}")

    started = time.monotonic()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT * per_thread)
        if worker.is_alive():
            finding("a client thread did not end")
    server.close()
    elapsed = time.monotonic() - started
    return {
        "threads": threads,
        "connections": threads * per_thread,
        "seconds": round(elapsed, 1),
        **counts,
        "server ends": dict(server.outcomes),
    }


# ---- close while reading ------------------------------------------------------------


def connected_pair(
    ssl: Any,
    server_ctx: Any,
    client_ctx: Any,
    listener: socket.socket,
    handshake: bool = True,
) -> tuple[Any, Any]:
    """(client, server) SSLSockets of one connection; the handshake is done
    unless ``handshake`` is false."""
    raw = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
    server_raw, _ = listener.accept()
    server_raw.settimeout(TIMEOUT)
    result: list[Any] = []

    def serve() -> None:
        try:
            result.append(server_ctx.wrap_socket(server_raw, server_side=True))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    client = client_ctx.wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=handshake
    )
    if not handshake:
        return client, (thread, result, server_raw)
    thread.join(TIMEOUT)
    if not result or isinstance(result[0], BaseException):
        raise RuntimeError(f"the server side failed: {result!r}")
    return client, result[0]


def blocked_read(
    client: Any,
    handshake: bool,
    name: str,
    entered: threading.Event,
    outcome: list[str],
) -> None:
    """The thread whose socket is closed under it: the handshake if not
    done, then a read; what it got goes into ``outcome``."""
    entered.set()
    try:
        if not handshake:
            client.do_handshake()
        data = client.recv(100)
        outcome.append("data" if data else "b''")
    except BaseException as exc:
        outcome.append(type(exc).__name__)
        if os.environ.get("SOAK_VERBOSE"):
            print(f"  {name}: {exc!r}", flush=True)
        if not clean(exc):
            finding(f"{name}: the blocked thread got {exc!r}")


def close_while_reading(ssl: Any, files: Any, rounds: int) -> dict[str, Any]:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.chain)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(files.ca)
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    listener.settimeout(TIMEOUT)
    variants = [
        ("close, blocking", "close", None, True),
        ("close, timeout", "close", 0.5, True),
        ("shutdown+close, blocking", "shutdown", None, True),
        ("shutdown+close, timeout", "shutdown", 0.5, True),
        ("close during handshake", "close", None, False),
    ]
    table: dict[str, collections.Counter[str]] = {
        name: collections.Counter() for name, *_ in variants
    }
    rng = random.Random(7)
    stolen = 0
    started = time.monotonic()
    for i in range(rounds):
        name, how, timeout, handshake = variants[i % len(variants)]
        try:
            client, server = connected_pair(
                ssl, server_ctx, client_ctx, listener, handshake
            )
        except OSError as exc:
            # A thread left reading an earlier socket's descriptor number
            # can take this connection's bytes.
            finding(f"{name}: a new connection failed: {exc!r}")
            continue
        client.settimeout(timeout)
        outcome: list[str] = []
        entered = threading.Event()
        reader = threading.Thread(
            target=blocked_read,
            daemon=True,
            args=(client, handshake, name, entered, outcome),
        )
        reader.start()
        entered.wait(TIMEOUT)
        # Sometimes before the call blocks, mostly while it does.
        time.sleep(rng.choice([0, 0.001, 0.003]))
        if how == "shutdown":
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        client.close()
        # A new connection now, likely on the descriptor number just freed.
        bystander = socket.create_connection(listener.getsockname(), timeout=2.0)
        bystander_server, _ = listener.accept()
        # The server side goes on: more data, then the end.
        if handshake:
            try:
                server.sendall(b"late data")
            except OSError:
                pass
            server.close()
        else:
            thread, result, server_raw = server
            thread.join(TIMEOUT)
            for item in result:
                if not isinstance(item, BaseException):
                    item.close()
            server_raw.close()
        reader.join(5.0)  # its socket has its data and its end by now
        if reader.is_alive():
            finding(f"{name}: the blocked thread did not end")
            outcome.append("hung")
        table[name][outcome[0] if outcome else "nothing"] += 1
        # The bystander gets exactly what is sent to it.
        bystander_server.sendall(b"bystander")
        try:
            got = recv_exactly(bystander, 9)
        except (OSError, EOFError) as exc:
            got = repr(exc).encode()
        if got != b"bystander":
            stolen += 1
            finding(f"{name}: the bystander connection received {got!r}")
        bystander.close()
        bystander_server.close()
    listener.close()
    return {
        "rounds": rounds,
        "seconds": round(time.monotonic() - started, 1),
        "bystanders short of bytes": stolen,
        **{name: dict(counter) for name, counter in table.items()},
    }


# ---- context freed ---------------------------------------------------------------------


def context_freed(ssl: Any, files: Any, rounds: int) -> dict[str, Any]:
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    listener.settimeout(TIMEOUT)
    freed = kept = 0
    started = time.monotonic()
    for _ in range(rounds):

        def make() -> tuple[Any, Any, list[Any]]:
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(files.chain)
            third = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            third.load_cert_chain(files.other_chain)
            client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            client_ctx.load_verify_locations(files.ca)
            client, server = connected_pair(ssl, server_ctx, client_ctx, listener)
            server.context = third
            return (
                client,
                server,
                [weakref.ref(c) for c in (server_ctx, third, client_ctx)],
            )

        client, server, refs = make()
        gc.collect()
        if any(ref() is None for ref in refs):
            finding("a context was freed while its socket lived on")
        client.sendall(b"ping")
        if recv_exactly(server, 4) != b"ping":
            finding("data after the contexts were dropped")
        server.sendall(b"pong")
        if recv_exactly(client, 4) != b"pong":
            finding("data after the contexts were dropped")
        if client.getpeercert() is None or server.context is not refs[1]():
            finding("the sockets lost their contexts")
        session = client.session
        client.close()
        server.close()
        del client, server, session
        gc.collect()
        if all(ref() is None for ref in refs):
            freed += 1
        else:
            kept += 1
    listener.close()
    if kept:
        finding(f"{kept} rounds kept a context after its sockets were closed")
    return {
        "rounds": rounds,
        "seconds": round(time.monotonic() - started, 1),
        "contexts freed after close": freed,
        "contexts kept": kept,
    }


# ---- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--module", choices=["pyssl", "stdlib"], default="pyssl")
    args = parser.parse_args()
    if args.module == "stdlib":
        import ssl
    else:
        import pyssl as ssl
    per_thread, close_rounds, freed_rounds = (
        (20, 50, 20) if args.quick else (500, 1000, 300)
    )
    print(f"{ssl.__name__} from {ssl.__file__}, {ssl.OPENSSL_VERSION}")
    print(
        f"python {sys.version.split()[0]}, dev mode {sys.flags.dev_mode}, "
        f"faulthandler {'on' if __import__('faulthandler').is_enabled() else 'off'}"
    )
    with scratch_directory() as tmp:
        files = make_files(tmp)
        fds, rss = open_fds(), rss_kib()
        for name, run in [
            ("shared context", lambda: shared_context(ssl, files, 16, per_thread)),
            (
                "close while reading",
                lambda: close_while_reading(ssl, files, close_rounds),
            ),
            ("context freed", lambda: context_freed(ssl, files, freed_rounds)),
        ]:
            print(f"\n== {name}", flush=True)
            for key, value in run().items():
                print(f"  {key}: {value}", flush=True)
        gc.collect()
        print(f"\nopen descriptors {fds} -> {open_fds()}, RSS {rss} -> {rss_kib()} KiB")
    print(f"\n{len(findings)} findings" + ("" if not findings else ":"))
    for text in findings[:20]:
        print(f"  {text}")
    return 1 if findings else 0


if __name__ == "__main__":
    dev_mode(sys.argv)
    sys.exit(main())
