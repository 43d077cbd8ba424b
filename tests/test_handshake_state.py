"""What the getters report follows every handshake, not only the first.

pyssl keeps what ``version()``, ``cipher()``, ``selected_alpn_protocol()``
and ``getpeercert()`` looked up once a handshake is finished, and drops it
whenever a handshake starts or ends inside a read or a write (a TLS 1.2
renegotiation, TLS 1.3 post-handshake authentication) or the context
changes. These tests catch a getter that goes on answering from before:
each runs with the stdlib too, whose getters ask OpenSSL every time.
"""

from __future__ import annotations

import select
import socket

import pytest
from conftest import TIMEOUT, client_context, needs_openssl, server_context


def wait_readable(sock):
    readable, _, _ = select.select([sock], [], [], TIMEOUT)
    assert readable, "the peer went quiet"


@needs_openssl
def test_version_follows_a_renegotiation_by_openssl_s_server(certs, either, openssl_server):
    server, port = openssl_server("-tls1_2")
    ctx = client_context(either, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"hello\n")
        server.wait_for(b"hello")
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        tls.setblocking(False)
        server.send(b"r\n")  # s_server's command to renegotiate
        wait_readable(tls)  # the HelloRequest
        with pytest.raises(either.SSLWantReadError):
            tls.recv(1024)  # answers it with a ClientHello
        # Handshaking again: no version until the renegotiation ends.
        assert tls.version() is None
        server.send(b"after\n")
        while True:
            wait_readable(tls)
            try:
                assert tls.recv(1024) == b"after\n"
                break
            except either.SSLWantReadError:
                pass
        assert tls.version() == "TLSv1.2"
        assert tls.cipher() == cipher


def test_getpeercert_follows_a_change_of_context(certs, either):
    server_ctx = server_context(either, certs)
    verifying = client_context(either, certs)
    trusting = client_context(either, certs, check_hostname=False, verify_mode=either.CERT_NONE)
    incoming, outgoing = either.MemoryBIO(), either.MemoryBIO()
    server = server_ctx.wrap_bio(outgoing, incoming, server_side=True)
    client = verifying.wrap_bio(incoming, outgoing, server_hostname="localhost")
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except either.SSLWantReadError:
                pass
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
    # The stdlib decodes the certificate only when the context in use
    # verifies certificates: an empty dict otherwise.
    client.context = trusting
    assert client.getpeercert() == {}
    client.context = verifying
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")


def test_getpeercert_returns_a_new_dict_each_time(certs, either):
    server_ctx = server_context(either, certs)
    client_ctx = client_context(either, certs)
    incoming, outgoing = either.MemoryBIO(), either.MemoryBIO()
    server = server_ctx.wrap_bio(outgoing, incoming, server_side=True)
    client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except either.SSLWantReadError:
                pass
    first = client.getpeercert()
    first.clear()
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")


@pytest.mark.parametrize("getter", ["version", "cipher", "selected_alpn_protocol"])
def test_getters_before_and_after_the_handshake(certs, either, getter):
    server_ctx = server_context(either, certs)
    client_ctx = client_context(either, certs)
    for ctx in (server_ctx, client_ctx):
        ctx.set_alpn_protocols(["h2"])
    incoming, outgoing = either.MemoryBIO(), either.MemoryBIO()
    server = server_ctx.wrap_bio(outgoing, incoming, server_side=True)
    client = client_ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    assert getattr(client, getter)() is None
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except either.SSLWantReadError:
                pass
    assert getattr(client, getter)() is not None
