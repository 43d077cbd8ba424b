"""SSLSocket.version(): the protocol version the handshake settled, as the
stdlib names it ("TLSv1.2", "TLSv1.3"), and None while there is none:
before the handshake, on an unconnected socket, after unwrap() and after
close()."""

from __future__ import annotations

import socket

import pytest
from openssl_cli import needs_openssl
from peers import client_context, converse, server_context

import pyssl

VERSIONS = {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}


def version(tls):
    return tls.version()


@pytest.mark.parametrize("maximum", VERSIONS)
@pytest.mark.parametrize("pyssl_end", ["client", "server"])
def test_negotiated_version_on_both_ends(serve, certs, peer, pyssl_end, maximum):
    # The version is capped on the peer's end; pyssl follows.
    cap = {"maximum_version": getattr(peer.TLSVersion, maximum)}
    if pyssl_end == "client":
        server_ctx, client_ctx = (
            server_context(peer, certs, **cap),
            client_context(pyssl, certs),
        )
    else:
        server_ctx, client_ctx = (
            server_context(pyssl, certs),
            client_context(peer, certs, **cap),
        )
    expected = VERSIONS[maximum]
    assert converse(serve, server_ctx, client_ctx, version) == (expected, expected)


@needs_openssl
@pytest.mark.parametrize(
    "args, expected",
    [(["-tls1_2"], "TLSv1.2"), (["-tls1_3"], "TLSv1.3"), ([], "TLSv1.3")],
)
def test_pyssl_client_with_openssl_s_server(openssl_server, certs, args, expected):
    proc, port = openssl_server(*args)
    ctx = client_context(pyssl, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == expected
            tls.sendall(b"done\n")
            proc.wait_for(b"done")


@needs_openssl
@pytest.mark.parametrize("args, expected", [(["-tls1_2"], "TLSv1.2"), ([], "TLSv1.3")])
def test_pyssl_server_with_openssl_s_client(
    serve, certs, openssl_client, args, expected
):
    def handler(conn):
        with server_context(pyssl, certs).wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            return tls.version()

    server = serve(handler)
    client = openssl_client(server.port, *args)
    client.wait_for(b"hello")
    assert server.join() == [expected]
    assert f"New, {expected}, Cipher is ".encode() in b"".join(client.transcript)


def test_none_before_the_handshake(serve, certs, either):
    server_ctx, client_ctx = (
        server_context(either, certs),
        client_context(either, certs),
    )
    ends = converse(serve, server_ctx, client_ctx, version, probe_before_handshake=True)
    assert ends == ((None, "TLSv1.3"), (None, "TLSv1.3"))


def test_none_on_an_unconnected_socket(certs, either):
    with client_context(either, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        assert tls.version() is None


def test_none_after_unwrap_and_after_close(serve, certs, either):
    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b""
            tls.unwrap()
            return tls.version()

    server = serve(handler)
    ctx = client_context(either, certs)
    with server.connect() as raw:
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        assert tls.version() == "TLSv1.3"
        tls.unwrap()
        assert tls.version() is None
        tls.close()
        assert tls.version() is None
    assert server.join() == [None]
