"""SSLSocket.pending(): how many decrypted bytes are ready to be read
without touching the socket. A TLS record is decrypted whole, so reading
part of one leaves the rest pending; otherwise (before the handshake,
with nothing buffered, after unwrap) it is 0."""

from __future__ import annotations

import select
import socket
import threading

import pytest
from openssl_cli import needs_openssl
from peers import TIMEOUT, client_context, server_context

import pyssl

RECORD = bytes(range(256)) * 39 + b"0123456789012345"  # 10,000 bytes: one TLS record
assert len(RECORD) == 10_000


def partial_read(tls):
    """Read 100 bytes of the 10,000-byte record, then the rest; returns
    what pending() said before, in between and after."""
    before = tls.pending()
    head = tls.recv(100)
    assert head == RECORD[:100]
    middle = tls.pending()
    rest = tls.recv(len(RECORD))  # all of it comes from the buffer
    assert rest == RECORD[100:]
    return before, middle, tls.pending()


def reader(tls):
    tls.sendall(b"?")
    result = partial_read(tls)
    tls.sendall(b"!")
    return result


def writer(tls):
    assert tls.recv(1) == b"?"
    tls.sendall(RECORD)  # a single write: a single record
    assert tls.recv(1) == b"!"


def run(serve, server_ctx, client_ctx, server_role, client_role):
    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            return server_role(tls)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        client_result = client_role(tls)
    [server_result] = server.join()
    return server_result, client_result


def test_pyssl_client_has_the_rest_of_a_record_pending(serve, certs, peer):
    results = run(
        serve, server_context(peer, certs), client_context(pyssl, certs), writer, reader
    )
    assert results == (None, (0, 9_900, 0))


def test_pyssl_server_has_the_rest_of_a_record_pending(serve, certs, peer):
    results = run(
        serve, server_context(pyssl, certs), client_context(peer, certs), reader, writer
    )
    assert results == ((0, 9_900, 0), None)


@needs_openssl
def test_rest_of_an_openssl_s_server_record_is_pending(openssl_server, certs):
    proc, port = openssl_server()
    ctx = client_context(pyssl, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            # s_server sends what one read of its stdin returns in one write.
            proc.send(RECORD)
            assert partial_read(tls) == (0, 9_900, 0)


def test_zero_before_the_handshake(serve, certs, either):
    handshaken = threading.Event()

    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"early data for the client")
            assert handshaken.wait(TIMEOUT)

    server = serve(handler)
    ctx = client_context(either, certs)
    with server.connect() as raw:
        with ctx.wrap_socket(
            raw, server_hostname="localhost", do_handshake_on_connect=False
        ) as tls:
            assert tls.pending() == 0
            tls.do_handshake()
            # The server's data may already sit on the socket; none of it
            # has been read or decrypted.
            assert tls.pending() == 0
            handshaken.set()
            assert tls.recv(1024) == b"early data for the client"
            assert tls.pending() == 0
    server.join()


def test_zero_on_an_unconnected_socket(certs, either):
    with client_context(either, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        assert tls.pending() == 0


def test_unwrap_refuses_while_data_is_pending(serve, certs, either):
    done = threading.Event()

    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            tls.sendall(RECORD)
            assert done.wait(TIMEOUT)

    server = serve(handler)
    ctx = client_context(either, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(100) == RECORD[:100]
        assert tls.pending() == 9_900
        with pytest.raises(either.SSLError) as info:
            tls.unwrap()
        assert (info.value.library, info.value.reason) == (
            "SSL",
            "APPLICATION_DATA_AFTER_CLOSE_NOTIFY",
        )
        done.set()
    server.join()


def test_zero_after_unwrap_and_close(serve, certs, either):
    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            tls.sendall(RECORD)
            assert tls.recv(1) == b""
            plain = tls.unwrap()
            plain.sendall(b"clear text")

    server = serve(handler)
    ctx = client_context(either, certs)
    with server.connect() as raw:
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        assert tls.recv(len(RECORD)) == RECORD
        plain = tls.unwrap()
        # Bytes waiting on the plain socket are not TLS data.
        assert select.select([plain], [], [], TIMEOUT)[0]
        assert plain.pending() == 0
        assert plain.recv(1024) == b"clear text"
        plain.close()
        assert plain.pending() == 0
    server.join()
