"""pyssl completes handshakes and exchanges data with every kind of peer."""

from __future__ import annotations

import pytest
from openssl_cli import needs_openssl
from peers import client_context, server_context

import pyssl


def echo_once(context):
    def handler(conn):
        with context.wrap_socket(conn, server_side=True) as tls:
            data = tls.recv(1024)
            tls.sendall(data[::-1])
            return tls.version(), tls.cipher()

    return handler


def test_pyssl_client_talks_to_server(serve, certs, peer):
    server = serve(echo_once(server_context(peer, certs)))
    ctx = client_context(pyssl, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"hello")
        assert tls.recv(1024) == b"olleh"
        assert tls.version() == "TLSv1.3"
        name, protocol, bits = tls.cipher()
        assert protocol == "TLSv1.3" and bits >= 128
    [(version, cipher)] = server.join()
    assert version == "TLSv1.3"
    assert cipher[0] == name


def test_pyssl_server_talks_to_client(serve, certs, peer):
    server = serve(echo_once(server_context(pyssl, certs)))
    ctx = client_context(peer, certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"abc")
        assert tls.recv(1024) == b"cba"
    [(version, cipher)] = server.join()
    assert version == "TLSv1.3"
    assert cipher == tls.cipher() or cipher[1] == "TLSv1.3"


@needs_openssl
def test_pyssl_client_talks_to_openssl_s_server(openssl_server, certs):
    proc, port = openssl_server("-rev")
    ctx = client_context(pyssl, certs)
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"pyssl\n")
            assert tls.recv(1024) == b"lssyp\n"
            assert tls.version() == "TLSv1.3"


@needs_openssl
def test_pyssl_server_talks_to_openssl_s_client(serve, certs, openssl_client):
    def handler(conn):
        with server_context(pyssl, certs).wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"from pyssl\n")
            return tls.recv(1024)

    server = serve(handler)
    client = openssl_client(server.port, "-quiet")
    client.wait_for(b"from pyssl")
    client.send(b"from s_client\n")
    assert server.join() == [b"from s_client\n"]


@pytest.mark.parametrize("maximum", ["TLSv1_2", "TLSv1_3"])
def test_protocol_version_negotiated_with_peer(serve, certs, peer, maximum):
    server = serve(echo_once(server_context(peer, certs)))
    ctx = client_context(pyssl, certs)
    ctx.maximum_version = getattr(pyssl.TLSVersion, maximum)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"x")
        tls.recv(1)
        assert tls.version() == maximum.replace("_", ".")
    server.join()
