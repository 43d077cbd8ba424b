"""SSLSocket.unwrap(): the TLS shutdown handshake (close_notify both ways),
after which the same socket carries the conversation on in clear text.

All of it is the stdlib's documented behaviour, so pyssl is paired with
both pyssl and the stdlib, and the failure cases run on both modules."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest
from peers import TIMEOUT, client_context, server_context
from ssl_modules import openssl_at_least, reason_since

import pyssl


def recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {data!r}")
        data += chunk
    return data


def tls_then_clear_text(tls, role, initiator):
    """One end of the conversation: a TLS exchange, the shutdown handshake
    (``initiator`` closes first; the other end sees EOF, then unwraps too),
    then a clear-text exchange on the socket unwrap() returned."""
    if role == "client":
        tls.sendall(b"over TLS")
        assert recv_exactly(tls, 12) == b"over TLS too"
    else:
        assert recv_exactly(tls, 8) == b"over TLS"
        tls.sendall(b"over TLS too")
    if role != initiator:
        assert tls.recv(1024) == b""  # the initiator's close_notify
    fileno = tls.fileno()
    plain = tls.unwrap()
    # The socket itself goes on, no longer wrapped.
    assert plain is tls
    assert plain.fileno() == fileno
    if role == "client":
        plain.sendall(b"clear from client")
        return recv_exactly(plain, 17)
    received = recv_exactly(plain, 17)
    plain.sendall(b"clear from server")
    return received


def run(serve, certs, server_module, client_module, initiator):
    server_ctx = server_context(server_module, certs)
    client_ctx = client_context(client_module, certs)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            return tls_then_clear_text(tls, "server", initiator)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        client_got = tls_then_clear_text(tls, "client", initiator)
    return server.join(), client_got


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_pyssl_client_goes_on_in_clear_text(serve, certs, peer, initiator):
    assert run(serve, certs, peer, pyssl, initiator) == (
        [b"clear from client"],
        b"clear from server",
    )


@pytest.mark.parametrize("initiator", ["client", "server"])
def test_pyssl_server_goes_on_in_clear_text(serve, certs, peer, initiator):
    assert run(serve, certs, pyssl, peer, initiator) == (
        [b"clear from client"],
        b"clear from server",
    )


def test_the_peer_reads_clear_text_after_unwrap(serve, certs, either):
    # What goes out after unwrap() is the bytes themselves, not TLS records.
    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b""
            tls.unwrap()
            return tls.recv(1024)

    server = serve(handler)
    ctx = client_context(either, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        plain = tls.unwrap()
        plain.sendall(b"GET / HTTP/1.0\r\n")
    assert server.join() == [b"GET / HTTP/1.0\r\n"]


# ---- no TLS layer to remove ---------------------------------------------------


def assert_no_wrapper(tls):
    with pytest.raises(ValueError) as info:
        tls.unwrap()
    assert type(info.value) is ValueError
    assert str(info.value).startswith("No SSL wrapper around ")


def test_unconnected_socket_has_no_wrapper(certs, either):
    ctx = client_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        assert_no_wrapper(tls)


def test_second_unwrap_and_unwrap_after_close_raise_value_error(serve, certs, either):
    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b""
            tls.unwrap()

    server = serve(handler)
    ctx = client_context(either, certs)
    with server.connect() as raw:
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tls.unwrap()
        assert_no_wrapper(tls)
        tls.close()
        assert_no_wrapper(tls)
    server.join()


def test_unwrap_before_the_handshake_is_an_sslerror(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    left, right = socket.socketpair()
    with (
        right,
        ctx.wrap_socket(
            left, server_hostname="localhost", do_handshake_on_connect=False
        ) as tls,
    ):
        with pytest.raises(either.SSLError) as info:
            tls.unwrap()
        assert info.value.args[0] == either.SSL_ERROR_SSL
        assert (info.value.library, info.value.reason) == (
            "SSL",
            "SHUTDOWN_WHILE_IN_INIT",
        )


# ---- a peer that does not answer as it should -----------------------------------


def test_non_blocking_unwrap_raises_want_read_until_the_peer_answers(
    serve, certs, either
):
    answer = threading.Event()

    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b""
            assert answer.wait(TIMEOUT)
            tls.unwrap()

    server = serve(handler)
    ctx = client_context(either, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.setblocking(False)
        with pytest.raises(either.SSLWantReadError) as info:
            tls.unwrap()  # sends close_notify; the answer has not come yet
        assert info.value.args[0] == either.SSL_ERROR_WANT_READ
        assert str(info.value).startswith("The operation did not complete (read)")
        answer.set()
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert select.select([tls], [], [], deadline - time.monotonic())[0], (
                "no close_notify"
            )
            try:
                plain = tls.unwrap()
            except either.SSLWantReadError:
                continue
            break
        assert plain is tls
        assert plain.gettimeout() == 0.0
    server.join()


def test_timeout_when_the_peer_never_answers_close_notify(serve, certs, either):
    done = threading.Event()

    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b""  # close_notify, left unanswered
            assert done.wait(TIMEOUT)

    server = serve(handler)
    ctx = client_context(either, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.settimeout(0.2)
        started = time.monotonic()
        with pytest.raises(TimeoutError) as info:
            tls.unwrap()
        assert time.monotonic() - started < 5
        assert str(info.value) == "The read operation timed out"
        done.set()
    server.join()


def test_eof_instead_of_close_notify(serve, certs, either):
    def handler(conn):
        tls = server_context(either, certs).wrap_socket(conn, server_side=True)
        assert tls.recv(1024) == b""
        tls.close()  # no close_notify back: the TCP connection just ends

    server = serve(handler)
    ctx = client_context(either, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        with pytest.raises(either.SSLEOFError) as info:
            tls.unwrap()
        assert info.value.args[0] == either.SSL_ERROR_EOF
        assert "EOF occurred in violation of protocol" in str(info.value)
    server.join()


def test_garbage_instead_of_close_notify(serve, certs, either):
    def handler(conn):
        tls = server_context(either, certs).wrap_socket(conn, server_side=True)
        assert tls.recv(1024) == b""
        with socket.socket(fileno=tls.detach()) as plain:
            plain.settimeout(TIMEOUT)
            plain.sendall(b"this is not a TLS record\r\n")
            plain.shutdown(socket.SHUT_WR)

    server = serve(handler)
    ctx = client_context(either, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        with pytest.raises(either.SSLError) as info:
            tls.unwrap()
        assert info.value.args[0] == either.SSL_ERROR_SSL
        assert info.value.library == "SSL"
        # Since OpenSSL 3.2 the record layer's failure is the last error,
        # after WRONG_VERSION_NUMBER.
        assert info.value.reason == (
            reason_since(either, "RECORD_LAYER_FAILURE", 3, 2)
            if openssl_at_least(either, 3, 2)
            else "WRONG_VERSION_NUMBER"
        )
    server.join()
