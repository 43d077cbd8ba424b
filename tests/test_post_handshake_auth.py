"""SSLSocket.verify_client_post_handshake(): TLS 1.3 post-handshake client
authentication. The server asks for the client's certificate after the
handshake; the request goes out with the server's next write, the client
answers while reading, and the server takes the certificate in with its
next read.

The stdlib documents every case here, so each runs with pyssl on both
ends, against the stdlib in both roles and against ``openssl s_client``."""

from __future__ import annotations

import socket

import pytest
from cert_files import der_of
from openssl_cli import needs_openssl
from peers import client_context, server_context
from ssl_modules import module_named

import pyssl


def pha_server_context(module, certs, **settings):
    # OpenSSL asks for a certificate after the handshake only if the server
    # verifies client certificates at all.
    settings.setdefault("verify_mode", module.CERT_OPTIONAL)
    settings.setdefault("post_handshake_auth", True)
    ctx = server_context(module, certs, **settings)
    ctx.load_verify_locations(certs.ca)
    return ctx


def pha_client_context(module, certs, **settings):
    settings.setdefault("post_handshake_auth", True)
    ctx = client_context(module, certs, **settings)
    ctx.load_cert_chain(certs.client_chain)
    return ctx


def authenticating_server(ctx):
    """A server that asks for the client's certificate after the handshake
    and returns (certificate before, certificate after) in DER."""

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b"hello\n"
            before = tls.getpeercert(binary_form=True)
            assert tls.verify_client_post_handshake() is None
            # Until the client's answer is read, OpenSSL counts the
            # connection as handshaking again.
            with pytest.raises(ValueError, match="^handshake not done yet$"):
                tls.getpeercert(binary_form=True)
            tls.sendall(b"who are you?\n")  # carries the CertificateRequest
            assert tls.recv(1024) == b"it is me\n"  # preceded by the Certificate
            return before, tls.getpeercert(binary_form=True)

    return handler


def client_conversation(tls):
    tls.sendall(b"hello\n")
    assert tls.recv(1024) == b"who are you?\n"
    tls.sendall(b"it is me\n")


@pytest.mark.parametrize(
    "server_module, client_module",
    [("pyssl", "pyssl"), ("pyssl", "stdlib"), ("stdlib", "pyssl")],
    ids=["pyssl-pyssl", "pyssl server, stdlib client", "stdlib server, pyssl client"],
)
def test_server_gets_the_client_certificate(serve, certs, server_module, client_module):
    server = serve(
        authenticating_server(pha_server_context(module_named(server_module), certs))
    )
    ctx = pha_client_context(module_named(client_module), certs)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.3"
        client_conversation(tls)
    [(before, after)] = server.join()
    assert before is None
    assert after == der_of(certs.client_cert)


@needs_openssl
def test_pyssl_server_gets_the_certificate_of_openssl_s_client(
    serve, certs, openssl_client
):
    server = serve(authenticating_server(pha_server_context(pyssl, certs)))
    client = openssl_client(
        server.port,
        "-enable_pha",
        "-cert",
        certs.client_cert,
        "-key",
        certs.client_key,
    )
    client.send(b"hello\n")
    client.wait_for(b"who are you?")
    client.send(b"it is me\n")
    [(before, after)] = server.join()
    assert before is None
    assert after == der_of(certs.client_cert)


def run_request(serve, server_ctx, client_ctx):
    """The exchange of authenticating_server() with a client that may not
    have the certificate asked for; returns what the server's handler
    returned or raised, and what the client read."""
    outcome = {}

    def handler(conn):
        try:
            outcome["server"] = authenticating_server(server_ctx)(conn)
        except Exception as exc:
            outcome["server"] = exc

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"hello\n")
        assert tls.recv(1024) == b"who are you?\n"
        try:
            tls.sendall(b"it is me\n")
        except OSError:
            pass  # a server that refused the answer may be gone already
        server.join()
    return outcome["server"]


def test_client_without_a_certificate_when_optional(serve, certs, either):
    client_ctx = client_context(either, certs, post_handshake_auth=True)
    result = run_request(serve, pha_server_context(either, certs), client_ctx)
    assert result == (None, None)


def test_client_without_a_certificate_when_required(serve, certs, either):
    server_ctx = pha_server_context(either, certs, verify_mode=either.CERT_REQUIRED)
    client_ctx = client_context(either, certs, post_handshake_auth=True)
    error = run_request(serve, server_ctx, client_ctx)
    assert type(error) is either.SSLError
    assert (error.library, error.reason) == ("SSL", "PEER_DID_NOT_RETURN_A_CERTIFICATE")
    assert error.args[0] == either.SSL_ERROR_SSL


def test_client_certificate_from_an_unknown_ca(serve, certs, either):
    server_ctx = either.SSLContext(either.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs.server_chain)
    server_ctx.load_verify_locations(certs.other_ca)  # did not sign the client's
    server_ctx.verify_mode = either.CERT_REQUIRED
    server_ctx.post_handshake_auth = True
    error = run_request(serve, server_ctx, pha_client_context(either, certs))
    assert type(error) is either.SSLCertVerificationError
    assert error.reason == "CERTIFICATE_VERIFY_FAILED"
    # The client sends its CA along, which the server does not trust.
    assert error.verify_message == "self-signed certificate in certificate chain"


# ---- every unmet precondition is an SSLError -------------------------------------


def request_failure(module, tls):
    with pytest.raises(module.SSLError) as info:
        tls.verify_client_post_handshake()
    return info.value


def failed_request(
    serve,
    certs,
    module,
    server_settings=None,
    client_settings=None,
    side="server",
    earlier_requests=0,
):
    """Handshake, then call verify_client_post_handshake() on ``side`` (on
    the server, after ``earlier_requests`` successful calls); returns the
    exception it raised."""
    server_ctx = pha_server_context(module, certs, **(server_settings or {}))
    client_ctx = pha_client_context(module, certs, **(client_settings or {}))

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            error = None
            if side == "server":
                for _ in range(earlier_requests):
                    tls.verify_client_post_handshake()
                error = request_failure(module, tls)
            tls.sendall(b"!")
            return error

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        client_error = request_failure(module, tls) if side == "client" else None
    [server_error] = server.join()
    return server_error if side == "server" else client_error


# OpenSSL's reason codes (include/openssl/sslerr.h): the stdlib's args[0].
SSL_R = {
    "WRONG_SSL_VERSION": 266,
    "EXTENSION_NOT_RECEIVED": 279,
    "INVALID_CONFIG": 283,
    "NOT_SERVER": 284,
    "STILL_IN_INIT": 121,
}


def assert_ssl_reason(module, error, reason):
    assert type(error) is module.SSLError
    assert (error.library, error.reason) == ("SSL", reason)
    assert error.args[0] == SSL_R[reason]


def test_on_the_client_side(serve, certs, either):
    error = failed_request(serve, certs, either, side="client")
    assert_ssl_reason(either, error, "NOT_SERVER")


def test_over_tls_1_2(serve, certs, either):
    error = failed_request(
        serve,
        certs,
        either,
        client_settings={"maximum_version": either.TLSVersion.TLSv1_2},
    )
    assert_ssl_reason(either, error, "WRONG_SSL_VERSION")


def test_client_did_not_enable_it(serve, certs, either):
    error = failed_request(
        serve, certs, either, client_settings={"post_handshake_auth": False}
    )
    assert_ssl_reason(either, error, "EXTENSION_NOT_RECEIVED")


def test_server_that_does_not_verify_clients_cannot_ask(serve, certs, either):
    error = failed_request(
        serve, certs, either, server_settings={"verify_mode": either.CERT_NONE}
    )
    assert_ssl_reason(either, error, "INVALID_CONFIG")


def test_asking_again_before_the_answer(serve, certs, either):
    # A request makes OpenSSL count the connection as handshaking again.
    error = failed_request(serve, certs, either, earlier_requests=1)
    assert_ssl_reason(either, error, "STILL_IN_INIT")


def test_before_the_handshake(certs, either):
    # No protocol version is settled yet, so it is not TLS 1.3.
    ctx = pha_server_context(either, certs)
    left, right = socket.socketpair()
    with (
        right,
        ctx.wrap_socket(left, server_side=True, do_handshake_on_connect=False) as tls,
    ):
        with pytest.raises(either.SSLError) as info:
            tls.verify_client_post_handshake()
    assert_ssl_reason(either, info.value, "WRONG_SSL_VERSION")


def test_unconnected_socket_is_a_value_error(certs, either):
    ctx = pha_server_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_side=True) as tls:
        with pytest.raises(ValueError) as info:
            tls.verify_client_post_handshake()
    assert str(info.value).startswith("No SSL wrapper around ")


def test_not_implemented_error_is_unreachable_here():
    # verify_client_post_handshake() raises NotImplementedError only with an
    # OpenSSL without TLS 1.3; this one has TLS 1.3.
    assert pyssl.HAS_TLSv1_3 is True
