"""What the getters report follows every handshake, not only the first.

pyssl keeps what ``version()``, ``cipher()``, ``selected_alpn_protocol()``
and ``getpeercert()`` looked up once a handshake is finished, and drops it
whenever a handshake starts or ends inside a read or a write (a TLS 1.2
renegotiation, TLS 1.3 post-handshake authentication) or the context
changes. These tests catch a getter that goes on answering from before:
each runs with the stdlib too, whose getters ask OpenSSL every time.
"""

from __future__ import annotations

import socket

import pytest
from openssl_cli import needs_openssl
from peers import TIMEOUT, BioPair, ThreadedServer, client_context, server_context


class Relay:
    """An SSLObject over memory BIOs whose records this test moves to and
    from a socket by hand, so that each step of a handshake happens when
    the test says."""

    def __init__(self, module, ctx, sock, server_side=False):
        self.module = module
        self.sock = sock
        self.incoming, self.outgoing = module.MemoryBIO(), module.MemoryBIO()
        self.tls = ctx.wrap_bio(
            self.incoming,
            self.outgoing,
            server_side=server_side,
            server_hostname=None if server_side else "localhost",
        )

    def send(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def receive(self):
        data = self.sock.recv(65536)
        assert data, "the peer closed"
        self.incoming.write(data)

    def handshake(self):
        while True:
            try:
                self.tls.do_handshake()
                break
            except self.module.SSLWantReadError:
                self.send()
                self.receive()
        self.send()

    def read(self):
        """Application data, moving records until some comes."""
        while True:
            try:
                return self.tls.read(1024)
            except self.module.SSLWantReadError:
                self.send()
                self.receive()


@needs_openssl
def test_version_follows_a_renegotiation_by_openssl_s_server(
    certs, either, openssl_server
):
    server, port = openssl_server("-tls1_2")
    ctx = client_context(either, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        client = Relay(either, ctx, raw)
        client.handshake()
        client.tls.write(b"hello\n")
        client.send()
        server.wait_for(b"hello")
        assert client.tls.version() == "TLSv1.2"
        cipher = client.tls.cipher()
        server.send(b"r\n")  # s_server's command to renegotiate
        client.receive()  # its HelloRequest, and nothing more
        with pytest.raises(either.SSLWantReadError):
            client.tls.read(1024)  # answers it with a ClientHello
        # Handshaking again: no version until the renegotiation ends.
        assert client.tls.version() is None
        client.send()
        server.send(b"after\n")
        # TLS 1.2 lets application data through in the middle of the
        # renegotiation: the data may come before its end.
        assert client.read() == b"after\n"
        for _ in range(10):
            # First what has come already (the rest of the server's flight
            # may have come with the data): waiting for more would hang.
            with pytest.raises(either.SSLWantReadError):
                client.tls.read(1024)
            if client.tls.version() is not None:
                break
            client.send()
            client.receive()
        assert client.tls.version() == "TLSv1.2"
        assert client.tls.cipher() == cipher


def test_getpeercert_follows_a_change_of_context(certs, either):
    verifying = client_context(either, certs)
    trusting = client_context(
        either, certs, check_hostname=False, verify_mode=either.CERT_NONE
    )
    client = BioPair(verifying, server_context(either, certs)).handshake().client
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
    # The stdlib decodes the certificate only when the context in use
    # verifies certificates: an empty dict otherwise.
    client.context = trusting
    assert client.getpeercert() == {}
    client.context = verifying
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")


def test_getpeercert_returns_a_new_dict_each_time(certs, either):
    client = (
        BioPair(client_context(either, certs), server_context(either, certs))
        .handshake()
        .client
    )
    first = client.getpeercert()
    first.clear()
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")


@pytest.mark.parametrize("getter", ["version", "cipher", "selected_alpn_protocol"])
def test_getters_before_and_after_the_handshake(certs, either, getter):
    server_ctx = server_context(either, certs)
    client_ctx = client_context(either, certs)
    for ctx in (server_ctx, client_ctx):
        ctx.set_alpn_protocols(["h2"])
    pair = BioPair(client_ctx, server_ctx)
    assert getattr(pair.client, getter)() is None
    pair.handshake()
    assert getattr(pair.client, getter)() is not None


def _step(call, module):
    try:
        return call()
    except module.SSLWantReadError:
        return None


def test_a_read_that_ends_a_renegotiation_returns_its_data_and_the_new_certificate(
    certs, either
):
    # A pyssl server switches to another certificate and renegotiates in
    # full (OpenSSL's SSL_renegotiate: the ssl API has no call for it). Its
    # flight is the last; it sends data right after it, so the client's
    # read finishes the handshake and returns that data in the same call,
    # and what the client's getters kept from the first handshake must go.
    # Every step is in memory: nothing depends on timing.
    import pyssl
    from pyssl._lib import lib

    server_ctx = server_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    other_ctx = server_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    other_ctx.load_cert_chain(certs.client_chain)  # same CA, another subject
    client_ctx = client_context(either, certs, check_hostname=False)
    pair = BioPair(client_ctx, server_ctx).handshake()
    client, server = pair.client, pair.server
    assert client.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
    server.context = other_ctx
    ssl_ptr = server._sslobj.ssl_ptr
    lib.SSL_set_options(ssl_ptr, lib.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION)
    assert lib.SSL_renegotiate(ssl_ptr) == 1
    server.do_handshake()  # sends a HelloRequest; the rest comes in reads
    pair._move()
    assert _step(lambda: client.read(1024), either) is None  # ClientHello
    pair._move()
    assert (
        _step(lambda: server.read(1024), pyssl) is None
    )  # ServerHello ... ServerHelloDone
    pair._move()
    assert _step(lambda: client.read(1024), either) is None  # ... Finished
    pair._move()
    assert (
        _step(lambda: server.read(1024), pyssl) is None
    )  # Finished: the server is done
    server.write(b"after the renegotiation")
    pair._move()
    assert client.read(1024) == b"after the renegotiation"
    assert not client.session_reused
    assert client.getpeercert()["subjectAltName"][0] == ("email", "client@example.org")
    assert pair.send(b"and on") == b"and on"


def test_a_blocking_read_through_a_whole_renegotiation_sees_the_new_certificate(
    certs, either
):
    # On a blocking socket one read can run a whole renegotiation (the
    # HelloRequest, every flight, the Finished) and then return the data
    # after it: what the getters kept from the first handshake must go.
    # The client reads in a thread; the server is a pyssl SSLObject whose
    # records this test moves by hand, so it knows when each flight is out.
    import pyssl
    from pyssl._lib import lib

    server_ctx = server_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    other_ctx = server_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    other_ctx.load_cert_chain(certs.client_chain)  # same CA, another subject

    def client(conn):
        ctx = client_context(either, certs, check_hostname=False)
        with ctx.wrap_socket(conn, server_hostname="localhost") as tls:
            first = tls.getpeercert()["subjectAltName"][0]
            tls.sendall(b"g")
            tls.settimeout(None)  # blocking: the whole renegotiation in one read
            data = tls.recv(1024)
            after = tls.getpeercert()["subjectAltName"][0]
            tls.sendall(b"x")
            return first, data, after

    peer = ThreadedServer(client)  # here the thread on the other end is the client
    with socket.create_connection(peer.address, timeout=TIMEOUT) as raw:
        server = Relay(pyssl, server_ctx, raw, server_side=True)
        server.handshake()
        assert server.read() == b"g"
        server.tls.context = other_ctx
        ssl_ptr = server.tls._sslobj.ssl_ptr
        lib.SSL_set_options(ssl_ptr, lib.SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION)
        assert lib.SSL_renegotiate(ssl_ptr) == 1
        server.tls.do_handshake()  # the HelloRequest; the rest comes in reads
        server.send()
        started = False
        while True:  # until the renegotiation has started and ended
            try:
                server.tls.read(1)
            except pyssl.SSLWantReadError:
                server.send()
            if server.tls.version() is None:
                started = True
            elif started:
                break
            server.receive()
        server.tls.write(b"after the renegotiation")
        server.send()
        assert server.read() == b"x"
    assert peer.join() == [
        (
            ("DNS", "localhost"),
            b"after the renegotiation",
            ("email", "client@example.org"),
        )
    ]
