"""A server keeps serving while some clients misbehave: they send
garbage, stall in the middle of the handshake until the server's timeout
fires, close in the middle of a record, or ask to renegotiate TLS 1.2.
Each bad connection ends on the server with the exception (and reason)
the stdlib's server gives, and a good client connected meanwhile is
served in full."""

from __future__ import annotations

import socket
import threading

import pytest
from openssl_cli import needs_openssl
from peers import TIMEOUT, client_context, server_context
from ssl_modules import openssl_at_least, reason_since

import pyssl

# The server's socket timeout: what a stalled client waits for.
STALL_TIMEOUT = 0.5


class Server:
    """A server thread per connection, all with one context, each with a
    socket timeout; ``ends`` maps a client's port to how its connection
    ended on the server: ("handshake", exception) when the handshake
    failed, else ("read", bytes read, b"" or the exception reading
    ended with)."""

    def __init__(self, ctx, suppress_ragged_eofs: bool = True) -> None:
        self.ctx = ctx
        self.suppress_ragged_eofs = suppress_ragged_eofs
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.ends: dict[int, tuple] = {}
        self.done: dict[int, threading.Event] = {}
        self.threads: list[threading.Thread] = []
        self.stopping = False
        self.lock = threading.Lock()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while True:
            conn, (_, port) = self.listener.accept()
            if self.stopping:
                conn.close()
                return
            self._done(port)
            thread = threading.Thread(
                target=self._serve, args=(conn, port), daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        conn.settimeout(STALL_TIMEOUT)
        try:
            try:
                tls = self.ctx.wrap_socket(
                    conn,
                    server_side=True,
                    suppress_ragged_eofs=self.suppress_ragged_eofs,
                )
            except Exception as exc:
                self.ends[port] = ("handshake", exc)
                return
            tls.settimeout(TIMEOUT)  # the descriptor is the SSLSocket's now
            received = b""
            with tls:
                try:
                    while data := tls.recv(1024):
                        received += data
                        tls.sendall(data)
                except Exception as exc:
                    self.ends[port] = ("read", received, exc)
                    return
                self.ends[port] = ("read", received, b"")
                try:
                    tls.unwrap()  # answers a close_notify; a ragged end has none
                except OSError:
                    pass
        finally:
            conn.close()
            self._done(port).set()

    def _done(self, port: int) -> threading.Event:
        """The event set when the connection from ``port`` has ended; made
        by whichever asks first, the acceptor or the test."""
        with self.lock:
            return self.done.setdefault(port, threading.Event())

    def end_of(self, sock: socket.socket) -> tuple:
        """How the connection of the client socket ``sock`` ended."""
        port = sock.getsockname()[1]
        assert self._done(port).wait(TIMEOUT), (
            "the server did not finish the connection"
        )
        return self.ends[port]

    def all_ends(self) -> list[tuple]:
        """How every connection so far ended, once each has."""
        with self.lock:
            events = list(self.done.values())
        for event in events:
            assert event.wait(TIMEOUT), "the server did not finish a connection"
        return list(self.ends.values())

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)

    def close(self) -> None:
        # A connection of its own wakes the acceptor, which then stops.
        self.stopping = True
        socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT).close()
        self.acceptor.join(TIMEOUT)
        self.listener.close()
        for thread in self.threads:
            thread.join(TIMEOUT)


@pytest.fixture
def server(either, certs):
    servers = []

    def start(**settings) -> Server:
        ctx = server_context(either, certs)
        server = Server(ctx, **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def good_client(server: Server, certs) -> bytes:
    """A pyssl client that does everything right: what the server echoed."""
    with server.connect() as raw:
        with client_context(pyssl, certs).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls:
            tls.sendall(b"hello, server")
            echoed = tls.recv(1024)
            tls.unwrap()
    return echoed


def client_hello(certs) -> bytes:
    """The first flight of a pyssl client: a ClientHello record."""
    obj = client_context(pyssl, certs).wrap_bio(
        pyssl.MemoryBIO(), outgoing := pyssl.MemoryBIO(), server_hostname="localhost"
    )
    with pytest.raises(pyssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def end_reason(end: tuple) -> tuple:
    """(stage, exception class name, reason) of a connection's end."""
    exc = end[-1]
    return (end[0], type(exc).__name__, getattr(exc, "reason", None))


# ---- garbage --------------------------------------------------------------------------

GARBAGE = {
    # name: (bytes, the server's reason)
    "plain HTTP": (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "HTTP_REQUEST"),
    "a TLS record of another type": (b"\x17\x03\x03\x00\x05hello", "UNEXPECTED_MESSAGE"),
    "a record of an unknown version": (b"\x16\x09\x09\x00\x05hello", "WRONG_VERSION_NUMBER"),
    "an oversized record": (b"\x16\x03\x01\xff\xff" + b"\0" * 64, "PACKET_LENGTH_TOO_LONG"),
    "a malformed ClientHello": (b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",
                                "LENGTH_MISMATCH"),
}  # fmt: skip


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_fails_that_handshake_only(server, certs, either, garbage):
    data, reason = GARBAGE[garbage]
    if garbage == "an oversized record" and openssl_at_least(either, 3, 2):
        # OpenSSL 3.2's new record layer reports it in general terms.
        reason = reason_since(either, "RECORD_LAYER_FAILURE", 3, 2)
    running = server()
    with running.connect() as hostile:
        hostile.sendall(data)
        assert good_client(running, certs) == b"hello, server"
        end = running.end_of(hostile)
    assert end_reason(end) == ("handshake", "SSLError", reason)


# ---- stalling -------------------------------------------------------------------------


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello", "a ClientHello"])
def test_stalled_handshake_times_out_while_others_are_served(
    server, certs, either, sent
):
    running = server()
    hello = client_hello(certs)
    partial = {
        "nothing": b"",
        "half a ClientHello": hello[: len(hello) // 2],
        "a ClientHello": hello,
    }
    with running.connect() as hostile:
        hostile.sendall(partial[sent])
        assert good_client(running, certs) == b"hello, server"
        end = running.end_of(hostile)
    assert end[0] == "handshake"
    assert type(end[1]) is TimeoutError
    assert str(end[1]).endswith("The handshake operation timed out")


# ---- closing in the middle of a record ---------------------------------------------------


def handshake_in_memory(sock: socket.socket, certs):
    """A pyssl client over MemoryBIOs that handshakes through ``sock``
    itself, so that the test decides which bytes go out afterwards:
    (the SSLObject, its outgoing MemoryBIO)."""
    incoming, outgoing = pyssl.MemoryBIO(), pyssl.MemoryBIO()
    obj = client_context(pyssl, certs).wrap_bio(
        incoming, outgoing, server_hostname="localhost"
    )
    while True:
        try:
            obj.do_handshake()
            break
        except pyssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            data = sock.recv(65536)
            assert data, "the server closed during the handshake"
            incoming.write(data)
    sock.sendall(outgoing.read())
    return obj, outgoing


@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
@pytest.mark.parametrize("cut", ["mid-record", "after a record"])
def test_close_in_the_middle_of_a_record(
    server, certs, either, suppress_ragged_eofs, cut
):
    running = server(suppress_ragged_eofs=suppress_ragged_eofs)
    with running.connect() as hostile:
        obj, outgoing = handshake_in_memory(hostile, certs)
        obj.write(b"first")
        hostile.sendall(outgoing.read())
        obj.write(b"second record, never finished")
        record = outgoing.read()
        if cut == "mid-record":
            hostile.sendall(record[: len(record) // 2])
        hostile.shutdown(socket.SHUT_WR)  # the TCP end, with no close_notify
        assert good_client(running, certs) == b"hello, server"
        end = running.end_of(hostile)
    if suppress_ragged_eofs:
        # An end without close_notify reads as the end of the stream.
        assert end == ("read", b"first", b"")
    else:
        assert end[:2] == ("read", b"first")
        assert end_reason(end)[1:] == ("SSLEOFError", "UNEXPECTED_EOF_WHILE_READING")


# ---- renegotiation ---------------------------------------------------------------------------


@needs_openssl
def test_client_renegotiation_is_refused(server, certs, either, openssl_client):
    """OpenSSL 3 servers refuse a client's renegotiation (no_renegotiation);
    s_client gives up on the connection with a handshake_failure alert,
    which is how the server's read ends."""
    running = server()
    client = openssl_client(running.port, "-tls1_2")
    client.wait_for(b"Verify return code: 0")
    client.send(b"R\n")
    client.wait_for(b"RENEGOTIATING")
    client.wait_for(b"no renegotiation")
    assert good_client(running, certs) == b"hello, server"
    client.stop()
    ends = running.all_ends()
    assert len(ends) == 2 and ("read", b"hello, server", b"") in ends
    [end] = [end for end in ends if end != ("read", b"hello, server", b"")]
    assert end_reason(end) == ("read", "SSLError", "SSLV3_ALERT_HANDSHAKE_FAILURE")
    assert end[1] == b""
