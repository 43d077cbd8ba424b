"""SSLSocket.context, .server_side and .server_hostname.

``context`` is the SSLContext the connection uses and assigning one really
moves the connection to the new context's SSL_CTX (its certificate);
``server_hostname`` is the A-label form of the name given, which is also
what the server receives as SNI. The stdlib documents all three, so the
checks run on both modules."""

from __future__ import annotations

import errno
import os
import socket

import pytest
from cert_files import der_of
from peers import client_context, converse, server_context
from ssl_modules import close_what_wrap_socket_left_open, module_named

import pyssl

# ---- context -----------------------------------------------------------------


def test_context_is_the_wrapping_context(serve, certs, either):
    server_ctx, client_ctx = (
        server_context(either, certs),
        client_context(either, certs),
    )
    ends = converse(serve, server_ctx, client_ctx, lambda tls: tls.context)
    assert ends[0] is server_ctx
    assert ends[1] is client_ctx


@pytest.mark.parametrize("client_module", ["pyssl", "stdlib"])
def test_assigning_a_context_switches_the_certificate(
    serve, certs, either, second_server, client_module
):
    chain, cert, ca = second_server
    first = server_context(either, certs)
    second = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    second.load_cert_chain(chain)

    def handler(conn):
        with first.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            assert tls.context is first
            tls.context = second
            assert tls.context is second
            tls.do_handshake()
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
            return tls.context

    server = serve(handler)
    ctx = client_context(module_named(client_module), certs)
    ctx.load_verify_locations(ca)  # trusts both certificates
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        received = tls.getpeercert(binary_form=True)
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
    assert server.join() == [second]
    assert received == der_of(cert)
    assert received != der_of(certs.server_cert)


def test_without_assignment_the_first_certificate_is_used(
    serve, certs, either, second_server
):
    # The counterpart of the test above: the certificate does depend on
    # the context.
    ctx = client_context(either, certs)
    ctx.load_verify_locations(second_server[2])
    ders = converse(
        serve, server_context(either, certs), ctx, lambda tls: tls.getpeercert(True)
    )
    assert ders[1] == der_of(certs.server_cert)


@pytest.mark.parametrize(
    "value", [None, "context", object()], ids=["None", "str", "object"]
)
def test_assigning_a_non_context_is_a_type_error(certs, either, value):
    ctx = server_context(either, certs)
    left, right = socket.socketpair()
    with (
        right,
        ctx.wrap_socket(left, server_side=True, do_handshake_on_connect=False) as tls,
    ):
        with pytest.raises(TypeError) as info:
            tls.context = value
        assert str(info.value) == "The value must be a SSLContext"


def test_failed_assignment_keeps_the_context(certs):
    # pyssl alone: the stdlib stores the rejected value before it checks it,
    # leaving a socket whose .context is not its context.
    ctx = server_context(pyssl, certs)
    left, right = socket.socketpair()
    with (
        right,
        ctx.wrap_socket(left, server_side=True, do_handshake_on_connect=False) as tls,
    ):
        with pytest.raises(TypeError):
            tls.context = "context"
        assert tls.context is ctx


# ---- server_side ---------------------------------------------------------------


def test_server_side(serve, certs, either):
    ends = converse(
        serve,
        server_context(either, certs),
        client_context(either, certs),
        lambda tls: tls.server_side,
    )
    assert ends == (True, False)
    assert all(type(end) is bool for end in ends)


# ---- server_hostname ---------------------------------------------------------------


def sni_recording_context(certs):
    """A stdlib server context, and the list of SNI names its clients sent."""
    stdlib = module_named("stdlib")
    ctx = server_context(stdlib, certs)
    names = []
    ctx.sni_callback = lambda sslobj, name, context: names.append(name)
    return ctx, names


def hostname(tls):
    return tls.server_hostname


@pytest.mark.parametrize(
    "given, expected, sni",
    [
        ("localhost", "localhost", "localhost"),
        (b"localhost", "localhost", "localhost"),
        ("pythön.org", "xn--pythn-mua.org", "xn--pythn-mua.org"),
        ("xn--pythn-mua.org", "xn--pythn-mua.org", "xn--pythn-mua.org"),
        ("127.0.0.1", "127.0.0.1", None),  # SNI carries host names, never addresses
        (None, None, None),
    ],
    ids=["str", "bytes", "internationalised", "A-label", "address", "no name"],
)
def test_server_hostname_and_the_sni_sent(serve, certs, either, given, expected, sni):
    server_ctx, names = sni_recording_context(certs)
    client_ctx = client_context(
        either, certs, check_hostname=False
    )  # the names are not all the certificate's
    ends = converse(serve, server_ctx, client_ctx, hostname, server_hostname=given)
    assert ends == (None, expected)
    assert names == [sni]


def test_server_hostname_is_none_on_server_sockets(serve, certs, either):
    ends = converse(
        serve, server_context(either, certs), client_context(either, certs), hostname
    )
    assert ends == (None, "localhost")


@pytest.mark.parametrize(
    "given, error",
    [
        ("a..b", UnicodeError),
        ("x" * 64 + ".org", UnicodeError),
        (b"caf\xc3\xa9.org", UnicodeDecodeError),
    ],
    ids=["empty label", "64-character label", "non-ASCII bytes"],
)
def test_names_without_an_a_label_are_refused(certs, either, given, error):
    ctx = client_context(either, certs)
    sock = socket.socket()
    with sock, pytest.raises(error) as caught:
        ctx.wrap_socket(sock, server_hostname=given)
    close_what_wrap_socket_left_open(caught.value)


def test_a_refused_name_does_not_leak_the_descriptor(certs):
    # pyssl alone: the stdlib before 3.13 has already moved the descriptor
    # into an SSLSocket it does not close when the name is refused; it
    # stays open until the garbage collector finds that socket.
    ctx = client_context(pyssl, certs)
    sock = socket.socket()
    fd = sock.fileno()
    with sock, pytest.raises(UnicodeError):
        ctx.wrap_socket(sock, server_hostname="a..b")
    with pytest.raises(OSError) as info:
        os.fstat(fd)
    assert info.value.errno == errno.EBADF
