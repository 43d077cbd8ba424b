"""The three socket modes over TLS, as the stdlib has them: blocking (wait
as long as it takes), timeout (TimeoutError at the deadline) and
non-blocking (SSLWantReadError / SSLWantWriteError at once)."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest
from peers import TIMEOUT, client_context, connect_tls, recv_exactly, server_context

# How late a timeout may fire on a loaded machine; it must never fire early.
LATE = 1.5
SHORT = 0.4


def assert_on_time(started: float, timeout: float) -> None:
    elapsed = time.monotonic() - started
    # Allow for the clock's granularity, not for an early timeout.
    assert timeout - 0.01 <= elapsed < timeout + LATE, elapsed


@pytest.fixture
def release():
    """An event the server waits on; always set when the test ends, so
    that no server thread outlives its test."""
    event = threading.Event()
    yield event
    event.set()


def wait_then(release, action=None):
    """A server handler that does nothing until ``release`` is set."""

    def handler(sock):
        assert release.wait(TIMEOUT)
        if action is not None:
            return action(sock)

    return handler


def small_buffers(sock: socket.socket) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    return sock


def fill_until(tls, error):
    """Send while the peer reads nothing until ``error`` is raised; returns
    the error and how long the failing send() took."""
    chunk = b"x" * 65536
    for _ in range(10000):
        started = time.monotonic()
        try:
            tls.send(chunk)
        except error as exc:
            return exc, time.monotonic() - started
    raise AssertionError("the peer's window never filled")


def drive_handshake(module, tls) -> list[type]:
    """Complete a non-blocking handshake, waiting with select(); returns
    the want-errors met on the way."""
    wants = []
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            tls.do_handshake()
            return wants
        except module.SSLWantReadError:
            wants.append(module.SSLWantReadError)
            ready = select.select([tls], [], [], deadline - time.monotonic())[0]
        except module.SSLWantWriteError:
            wants.append(module.SSLWantWriteError)
            ready = select.select([], [tls], [], deadline - time.monotonic())[1]
        assert ready, "the handshake stalled"


# ---- blocking ----------------------------------------------------------------------


def test_blocking_read_waits_for_the_peer(serve_tls, certs, either):
    def handler(tls):
        time.sleep(SHORT)  # the wait the client's read must sit out
        tls.sendall(b"late")
        assert tls.recv(1) == b"!"

    server = serve_tls(either, handler)
    with connect_tls(either, certs, server, timeout=None) as tls:
        assert tls.gettimeout() is None and tls.getblocking()
        started = time.monotonic()
        assert recv_exactly(tls, 4) == b"late"
        assert time.monotonic() - started >= SHORT / 2  # it waited
        tls.sendall(b"!")
    server.join()


# ---- timeouts ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["recv", "read", "recv_into"])
def test_read_times_out_at_the_deadline(serve_tls, certs, either, release, method):
    server = serve_tls(either, wait_then(release, lambda tls: tls.sendall(b"after")))
    with connect_tls(either, certs, server, timeout=SHORT) as tls:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="The read operation timed out"):
            if method == "recv_into":
                tls.recv_into(bytearray(10))
            else:
                getattr(tls, method)(10)
        assert_on_time(started, SHORT)
        # A timeout loses nothing: the connection goes on.
        release.set()
        assert recv_exactly(tls, 5) == b"after"
    server.join()


def test_write_times_out_when_the_peer_stops_reading(serve, certs, either, release):
    def handler(conn):
        # Accepts TLS, then reads nothing until released.
        with server_context(either, certs).wrap_socket(conn, server_side=True):
            assert release.wait(TIMEOUT)

    server = serve(handler)
    raw = small_buffers(server.connect(timeout=SHORT))
    with client_context(either, certs).wrap_socket(
        raw, server_hostname="localhost"
    ) as tls:
        error, elapsed = fill_until(tls, TimeoutError)
        assert "The write operation timed out" in str(error)
        assert SHORT - 0.01 <= elapsed < SHORT + LATE, elapsed
    release.set()
    server.join()


def test_handshake_times_out_against_a_silent_peer(serve, certs, either, release):
    # A peer that accepts the TCP connection and never says a word.
    server = serve(wait_then(release))
    raw = server.connect(timeout=SHORT)
    ctx = client_context(either, certs)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="The handshake operation timed out"):
        ctx.wrap_socket(raw, server_hostname="localhost")
    assert_on_time(started, SHORT)
    # The failed wrap closed the socket it made; the original was detached.
    assert raw.fileno() == -1
    release.set()
    server.join()


def test_handshake_in_connect_times_out_against_a_silent_peer(
    serve, certs, either, release
):
    server = serve(wait_then(release))
    tls = client_context(either, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    )
    with tls:
        tls.settimeout(SHORT)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="The handshake operation timed out"):
            tls.connect(server.address)
        assert_on_time(started, SHORT)
    release.set()
    server.join()


def test_server_handshake_times_out_against_a_silent_client(serve, certs, either):
    def handler(conn):
        conn.settimeout(SHORT)
        started = time.monotonic()
        try:
            server_context(either, certs).wrap_socket(conn, server_side=True)
        except TimeoutError as exc:
            return exc, time.monotonic() - started
        raise AssertionError("the handshake completed without a client")

    server = serve(handler)
    with server.connect():
        [(error, elapsed)] = server.join()
    assert "The handshake operation timed out" in str(error)
    assert SHORT - 0.01 <= elapsed < SHORT + LATE, elapsed


# ---- non-blocking ------------------------------------------------------------------


def test_nonblocking_client_handshake_driven_with_select(
    serve, certs, either, peer, release
):
    def handler(conn):
        # No ServerHello until the client has met its first SSLWantReadError.
        assert release.wait(TIMEOUT)
        with server_context(peer, certs).wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"done")

    server = serve(handler)
    raw = server.connect()
    raw.setblocking(False)
    ctx = client_context(either, certs)
    with ctx.wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    ) as tls:
        assert tls.gettimeout() == 0.0
        # The ClientHello goes out; the ServerHello is not there yet.
        with pytest.raises(either.SSLWantReadError) as caught:
            tls.do_handshake()
        assert caught.value.args[0] == either.SSL_ERROR_WANT_READ
        assert str(caught.value).startswith("The operation did not complete (read)")
        assert tls.version() is None
        release.set()
        drive_handshake(either, tls)
        assert tls.version() == "TLSv1.3"
        tls.setblocking(True)
        assert recv_exactly(tls, 4) == b"done"
    server.join()


def test_nonblocking_server_handshake_driven_with_select(
    serve, certs, either, peer, release
):
    def handler(conn):
        conn.setblocking(False)
        ctx = server_context(either, certs)
        with ctx.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            # No ClientHello yet: the client waits for this error.
            try:
                tls.do_handshake()
            except either.SSLWantReadError as exc:
                first = exc
            finally:
                release.set()
            drive_handshake(either, tls)
            tls.setblocking(True)
            tls.sendall(b"done")
            return first

    server = serve(handler)
    with server.connect() as raw:
        assert release.wait(TIMEOUT)
        with client_context(peer, certs).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls:
            assert recv_exactly(tls, 4) == b"done"
    [first] = server.join()
    assert first.args[0] == either.SSL_ERROR_WANT_READ


@pytest.mark.parametrize("method", ["recv", "read", "recv_into"])
def test_nonblocking_read_raises_want_read(serve_tls, certs, either, release, method):
    server = serve_tls(either, wait_then(release, lambda tls: tls.sendall(b"now")))
    with connect_tls(either, certs, server) as tls:
        tls.setblocking(False)
        started = time.monotonic()
        with pytest.raises(either.SSLWantReadError) as caught:
            if method == "recv_into":
                tls.recv_into(bytearray(10))
            else:
                getattr(tls, method)(10)
        assert time.monotonic() - started < 1.0
        assert caught.value.args[0] == either.SSL_ERROR_WANT_READ
        release.set()
        assert select.select([tls], [], [], TIMEOUT)[0] == [tls]
        received = b""
        while len(received) < 3:
            try:
                received += tls.recv(10)
            except either.SSLWantReadError:
                select.select([tls], [], [], TIMEOUT)
        assert received == b"now"
    server.join()


def test_nonblocking_write_raises_want_write(serve_tls, certs, either, release):
    server = serve_tls(either, wait_then(release))
    raw = small_buffers(server.connect())
    with client_context(either, certs).wrap_socket(
        raw, server_hostname="localhost"
    ) as tls:
        tls.setblocking(False)
        error, elapsed = fill_until(tls, either.SSLWantWriteError)
        assert error.args[0] == either.SSL_ERROR_WANT_WRITE
        assert str(error).startswith("The operation did not complete (write)")
        assert elapsed < 1.0
    release.set()
    server.join()


def test_do_handshake_on_connect_is_refused_for_nonblocking_sockets(
    serve, certs, either
):
    server = serve(lambda conn: conn.recv(1))
    raw = server.connect()
    raw.setblocking(False)
    ctx = client_context(either, certs)
    with pytest.raises(ValueError) as caught:
        ctx.wrap_socket(raw, server_hostname="localhost")
    assert str(caught.value) == (
        "do_handshake_on_connect should not be specified for non-blocking sockets"
    )
    # The socket was handed over and closed: nothing leaks.
    assert raw.fileno() == -1
    server.join()


def test_do_handshake_block_completes_on_a_nonblocking_socket(serve_tls, certs, either):
    server = serve_tls(either, lambda tls: tls.sendall(b"done"))
    raw = server.connect()
    raw.setblocking(False)
    ctx = client_context(either, certs)
    with ctx.wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    ) as tls:
        tls.do_handshake(block=True)
        assert tls.version() == "TLSv1.3"
        # The socket is non-blocking again afterwards.
        assert tls.gettimeout() == 0.0
        tls.setblocking(True)
        assert recv_exactly(tls, 4) == b"done"
    server.join()


# ---- switching modes ---------------------------------------------------------------


def test_settimeout_between_operations_is_honoured(serve_tls, certs, either, release):
    def handler(tls):
        assert release.wait(TIMEOUT)
        time.sleep(SHORT)  # the wait the client's blocking read must sit out
        tls.sendall(b"blocking")

    server = serve_tls(either, handler)
    with connect_tls(either, certs, server, timeout=None) as tls:
        tls.settimeout(0.0)
        with pytest.raises(either.SSLWantReadError):
            tls.recv(10)

        tls.settimeout(SHORT)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            tls.recv(10)
        assert_on_time(started, SHORT)

        tls.setblocking(False)
        with pytest.raises(either.SSLWantReadError):
            tls.recv(10)

        tls.settimeout(None)
        release.set()
        started = time.monotonic()
        assert recv_exactly(tls, 8) == b"blocking"
        assert time.monotonic() - started >= SHORT / 2  # it waited
    server.join()
