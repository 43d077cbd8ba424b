"""Server Name Indication on the server: SSLContext.sni_callback and the
older set_servername_callback().

The callback is called as callback(sslsocket, server_name, sslcontext)
while the server reads the ClientHello. It may move the connection to
another context (another certificate), let the handshake go on (None) or
refuse it with an ALERT_DESCRIPTION_* value. What it raises, or a result
that is not an int, fails the handshake and goes to sys.unraisablehook.
The stdlib documents all of this, so the checks run on both modules; pyssl
also chains the callback's exception to the server's SSLError."""

from __future__ import annotations

import pytest
from cert_files import der_of
from openssl_cli import OpenSSLProcess, needs_openssl
from peers import BioPair, client_context, converse, server_context

import pyssl

SETTERS = ["sni_callback", "set_servername_callback"]


def install(ctx, setter, callback):
    if setter == "sni_callback":
        ctx.sni_callback = callback
    else:
        ctx.set_servername_callback(callback)


def recording(calls):
    def callback(sock, name, ctx):
        calls.append((sock, name, ctx))

    return callback


def peer_der(tls):
    return tls.getpeercert(binary_form=True)


# ---- what the callback receives ------------------------------------------------


# (the client's server_hostname, the name the callback receives). The
# stdlib gives an A-label to both callbacks (its What's New in 3.7 says so
# for set_servername_callback; the method's own documentation still
# promises a U-label).
NAMES = {
    "host name": ("localhost", "localhost"),
    "internationalised": ("pythön.org", "xn--pythn-mua.org"),
    "A-label": ("xn--pythn-mua.org", "xn--pythn-mua.org"),
    "no name": (None, None),
}


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize("case", NAMES)
def test_callback_receives_socket_name_and_context(
    serve, certs, either, peer, setter, case
):
    given, expected = NAMES[case]
    server_ctx = server_context(either, certs)
    calls = []
    install(server_ctx, setter, recording(calls))
    client_ctx = client_context(peer, certs, check_hostname=False)
    sockets = converse(
        serve, server_ctx, client_ctx, lambda tls: tls, server_hostname=given
    )
    [(sock, name, ctx)] = calls
    assert sock is sockets[0]
    assert isinstance(sock, either.SSLSocket)
    assert name == expected
    assert name is None or type(name) is str
    assert ctx is server_ctx


@pytest.mark.parametrize("setter", SETTERS)
def test_callback_receives_the_sslobject(certs, either, setter):
    server_ctx = server_context(either, certs)
    calls = []
    install(server_ctx, setter, recording(calls))
    pair = BioPair(client_context(either, certs), server_ctx).handshake()
    [(obj, name, ctx)] = calls
    assert obj is pair.server
    assert isinstance(obj, either.SSLObject)
    assert (name, ctx) == ("localhost", server_ctx)


@needs_openssl
@pytest.mark.parametrize(
    "args, expected",
    [(["-servername", "sni.example"], "sni.example"), (["-noservername"], None)],
    ids=["-servername", "-noservername"],
)
def test_names_from_openssl_s_client(serve, certs, either, args, expected):
    server_ctx = server_context(either, certs)
    calls = []
    server_ctx.sni_callback = recording(calls)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")

    server = serve(handler)
    client = OpenSSLProcess(["s_client", "-connect", f"127.0.0.1:{server.port}", *args])
    try:
        client.wait_for(b"hello")
    finally:
        client.stop()
    server.join()
    assert [name for _sock, name, _ctx in calls] == [expected]


# ---- switching the context -----------------------------------------------------


def switching_server(module, certs, second_server, setter):
    """A server context whose callback moves every connection to a context
    with the second certificate; returns (first, second)."""
    first = server_context(module, certs)
    second = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    second.load_cert_chain(second_server[0])

    def callback(sock, name, ctx):
        assert ctx is first
        sock.context = second

    install(first, setter, callback)
    return first, second


@pytest.mark.parametrize("setter", SETTERS)
def test_switching_the_context_switches_the_certificate(
    serve, certs, either, peer, second_server, setter
):
    first, second = switching_server(either, certs, second_server, setter)
    client_ctx = client_context(peer, certs)
    client_ctx.load_verify_locations(second_server[2])
    server_end, client_end = converse(
        serve, first, client_ctx, lambda tls: (tls.context, peer_der(tls))
    )
    assert server_end[0] is second
    assert client_end[1] == der_of(second_server[1])


def test_switching_the_context_of_an_sslobject(certs, either, second_server):
    first, second = switching_server(either, certs, second_server, "sni_callback")
    client_ctx = client_context(either, certs)
    client_ctx.load_verify_locations(second_server[2])
    pair = BioPair(client_ctx, first).handshake()
    assert pair.server.context is second
    assert pair.client.getpeercert(binary_form=True) == der_of(second_server[1])


@needs_openssl
def test_openssl_s_client_sees_the_switched_certificate(
    serve, certs, openssl_client, second_server
):
    first, _second = switching_server(pyssl, certs, second_server, "sni_callback")

    def handler(conn):
        with first.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")

    server = serve(handler)
    client = openssl_client(server.port)
    subject = client.wait_for(b"subject=")
    client.wait_for(b"hello")
    server.join()
    assert b"second.example" in subject


# ---- refusing the handshake ------------------------------------------------------


ALERTS = {
    "ACCESS_DENIED": "TLSV1_ALERT_ACCESS_DENIED",
    "UNRECOGNIZED_NAME": "TLSV1_UNRECOGNIZED_NAME",
    "HANDSHAKE_FAILURE": "SSLV3_ALERT_HANDSHAKE_FAILURE",
    "INTERNAL_ERROR": "TLSV1_ALERT_INTERNAL_ERROR",
}


def refused(handshake, server_ctx, client_ctx):
    """Run a handshake both ends must fail; (client error, server error)."""
    client, server = handshake(server_ctx, client_ctx)
    assert isinstance(client, Exception), client
    assert isinstance(server, Exception), server
    return client, server


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize("alert", ALERTS)
def test_returning_an_alert_refuses_the_handshake(
    handshake, certs, either, peer, setter, alert
):
    server_ctx = server_context(either, certs)
    install(
        server_ctx,
        setter,
        lambda sock, name, ctx: getattr(either, f"ALERT_DESCRIPTION_{alert}"),
    )
    client, server = refused(handshake, server_ctx, client_context(peer, certs))
    assert type(client) is peer.SSLError
    assert (client.library, client.reason) == ("SSL", ALERTS[alert])
    assert client.args[0] == peer.SSL_ERROR_SSL
    assert type(server) is either.SSLError
    assert (server.library, server.reason) == ("SSL", "CALLBACK_FAILED")
    assert server.__cause__ is None


@needs_openssl
def test_openssl_s_client_receives_the_alert(serve, certs, openssl_client):
    server_ctx = server_context(pyssl, certs)
    server_ctx.sni_callback = lambda sock, name, ctx: (
        pyssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
    )

    def handler(conn):
        with pytest.raises(pyssl.SSLError):
            server_ctx.wrap_socket(conn, server_side=True)

    server = serve(handler)
    client = openssl_client(server.port)
    line = client.wait_for(b"SSL alert number")
    assert b"tlsv1 unrecognized name" in line
    assert line.rstrip().endswith(b"SSL alert number 112")
    server.join()


# ---- callbacks that fail -----------------------------------------------------------


class CallbackFailure(Exception):
    pass


def raising(sock, name, ctx):
    raise CallbackFailure(name)


FAILURES = {
    # what the callback does: (the alert the client gets, the exception reported)
    "raises": (raising, "SSLV3_ALERT_HANDSHAKE_FAILURE", CallbackFailure("localhost")),
    "returns a str": (
        lambda sock, name, ctx: "refused",
        "TLSV1_ALERT_INTERNAL_ERROR",
        TypeError("'str' object cannot be interpreted as an integer"),
    ),
    "returns a float": (
        lambda sock, name, ctx: 112.0,
        "TLSV1_ALERT_INTERNAL_ERROR",
        TypeError("'float' object cannot be interpreted as an integer"),
    ),
    "returns a huge int": (
        lambda sock, name, ctx: 2**64,
        "TLSV1_ALERT_INTERNAL_ERROR",
        OverflowError("Python int too large to convert to C long"),
    ),
}


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize("failure", FAILURES)
def test_a_failing_callback_fails_the_handshake(
    handshake, certs, either, peer, unraisable, setter, failure
):
    callback, reason, error = FAILURES[failure]
    server_ctx = server_context(either, certs)
    install(server_ctx, setter, callback)
    client, server = refused(handshake, server_ctx, client_context(peer, certs))
    assert (type(client), client.reason) == (peer.SSLError, reason)
    assert (type(server), server.reason) == (either.SSLError, "CALLBACK_FAILED")
    [report] = unraisable
    assert report.exc_type is type(error)
    assert type(report.exc_value) is type(error)
    assert report.exc_value.args == error.args


@pytest.mark.parametrize("failure", FAILURES)
def test_the_failure_is_the_cause_of_the_servers_error(
    handshake, certs, unraisable, failure
):
    # pyssl alone: the stdlib reports the exception to sys.unraisablehook
    # and nowhere else.
    callback, _reason, error = FAILURES[failure]
    server_ctx = server_context(pyssl, certs, sni_callback=callback)
    _client, server = refused(handshake, server_ctx, client_context(pyssl, certs))
    assert type(server.__cause__) is type(error)
    assert server.__cause__ is unraisable[0].exc_value


def test_a_failing_callback_fails_an_sslobject_handshake(certs, either, unraisable):
    server_ctx = server_context(either, certs, sni_callback=raising)
    pair = BioPair(client_context(either, certs), server_ctx)
    with pytest.raises(either.SSLError) as info:
        pair.handshake()
    assert info.value.reason == "CALLBACK_FAILED"
    assert [report.exc_type for report in unraisable] == [CallbackFailure]


def test_the_next_connection_is_not_affected(handshake, certs, either, unraisable):
    answers = iter([raising, lambda sock, name, ctx: None])
    server_ctx = server_context(
        either, certs, sni_callback=lambda *args: next(answers)(*args)
    )
    client_ctx = client_context(either, certs)
    refused(handshake, server_ctx, client_ctx)
    assert handshake(server_ctx, client_ctx) == ("TLSv1.3", "TLSv1.3")
    assert len(unraisable) == 1


# ---- setting the callback --------------------------------------------------------


@pytest.mark.parametrize("setter", SETTERS)
def test_client_contexts_take_no_callback(either, setter):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ValueError) as info:
        install(ctx, setter, recording([]))
    assert str(info.value) == "sni_callback cannot be set on TLS_CLIENT context"
    assert ctx.sni_callback is None


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize(
    "value", [42, "callback", b"callback"], ids=["int", "str", "bytes"]
)
def test_non_callables_are_type_errors(either, setter, value):
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    with pytest.raises(TypeError) as info:
        install(ctx, setter, value)
    assert str(info.value) == "not a callable object"
    assert ctx.sni_callback is None


def test_the_callback_reads_back(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    assert ctx.sni_callback is None
    callback = recording([])
    ctx.sni_callback = callback
    assert ctx.sni_callback is callback
    ctx.set_servername_callback(callback)
    assert callable(ctx.sni_callback)  # a wrapper that converts the name
    assert ctx.sni_callback is not callback


@pytest.mark.parametrize("setter", SETTERS)
def test_none_removes_the_callback(handshake, certs, either, setter):
    calls = []
    server_ctx = server_context(either, certs)
    install(server_ctx, setter, recording(calls))
    install(server_ctx, setter, None)
    assert server_ctx.sni_callback is None
    assert handshake(server_ctx, client_context(either, certs)) == (
        "TLSv1.3",
        "TLSv1.3",
    )
    assert calls == []


def test_server_contexts_of_protocol_tls_take_a_callback(serve, certs, either):
    # PROTOCOL_TLS makes contexts for either end; only PROTOCOL_TLS_CLIENT
    # refuses the callback.
    with pytest.warns(DeprecationWarning):
        server_ctx = either.SSLContext(either.PROTOCOL_TLS)
    server_ctx.load_cert_chain(certs.server_chain)
    calls = []
    server_ctx.sni_callback = recording(calls)
    converse(serve, server_ctx, client_context(either, certs), lambda tls: None)
    assert [name for _sock, name, _ctx in calls] == ["localhost"]
