"""SSLContext.set_verify_callback(callback): pyssl's addition to the stdlib.

OpenSSL calls callback(certificate, depth, error_code, preverified) for
each certificate of the peer's chain it verifies, root first, and again
for each fault it finds; the callback's truth value is the verdict. What
it raises fails the handshake and is raised itself by do_handshake(), with
the SSLCertVerificationError as its cause. Checked on clients (against
pyssl, the stdlib and openssl s_server) and on servers verifying client
certificates (against pyssl, the stdlib and openssl s_client)."""

from __future__ import annotations

import hashlib
import socket

import pytest
from cert_files import der_of
from openssl_cli import OpenSSLProcess, needs_openssl
from peers import BioPair, client_context, server_context

import pyssl

# OpenSSL's verify error codes (X509_V_*) the tests expect.
OK = 0
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
APPLICATION_VERIFICATION = 50
HOSTNAME_MISMATCH = 62


@pytest.fixture
def chain(chain_certs):
    """(chain file, root CA file, [root, intermediate, leaf] in DER)."""
    return chain_certs.chain, chain_certs.root, chain_certs.ders()


def der(certificate):
    return pyssl.PEM_cert_to_DER_cert(certificate.public_bytes())


def fingerprint(certificate):
    return hashlib.sha256(der(certificate)).hexdigest()


def recording(calls, decide=None):
    """A callback that records its arguments (the certificate in DER) and
    returns decide(depth), or OpenSSL's own verdict without ``decide``."""

    def callback(certificate, depth, error_code, preverified):
        calls.append((der(certificate), depth, error_code, preverified))
        return preverified if decide is None else decide(depth)

    return callback


def refusing_the_peer(depth):
    return depth > 0


def chain_server(module, chain):
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain[0])
    return ctx


def chain_client(chain, callback, **settings):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(chain[1])
    ctx.set_verify_callback(callback)
    for name, value in settings.items():
        setattr(ctx, name, value)
    return ctx


# ---- what the callback receives ------------------------------------------------


def test_callback_sees_each_certificate_root_first(handshake, chain, peer):
    calls = []
    client, _server = handshake(
        chain_server(peer, chain), chain_client(chain, recording(calls))
    )
    assert client == "TLSv1.3"
    root, intermediate, leaf = chain[2]
    assert calls == [
        (root, 2, OK, True),
        (intermediate, 1, OK, True),
        (leaf, 0, OK, True),
    ]


def test_certificates_are_those_of_the_verified_chain(handshake, chain):
    seen = []

    def callback(certificate, depth, error_code, preverified):
        seen.append(certificate)
        return True

    def verified(tls):
        return tls._sslobj.get_verified_chain()

    client, _server = handshake(
        chain_server(pyssl, chain), chain_client(chain, callback), on_client=verified
    )
    assert [type(c) for c in seen] == [type(client[0])] * 3
    assert seen == client[::-1]


def test_arguments_have_the_documented_types(handshake, chain):
    types = []

    def callback(*args):
        types.append(tuple(type(arg).__name__ for arg in args))
        return True

    handshake(chain_server(pyssl, chain), chain_client(chain, callback))
    assert types == [("Certificate", "int", "int", "bool")] * 3


@pytest.mark.parametrize(
    "case, server_hostname, trusted, expected",
    [
        # The intermediate's issuer is the one missing.
        ("untrusted", "localhost", False, (1, UNABLE_TO_GET_ISSUER_CERT_LOCALLY)),
        ("wrong host name", "other.example", True, (0, HOSTNAME_MISMATCH)),
    ],
)
def test_callback_sees_the_fault_openssl_found(
    handshake, certs, chain, case, server_hostname, trusted, expected
):
    calls = []
    ctx = chain_client(chain, recording(calls))
    if not trusted:
        ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(certs.other_ca)
        ctx.set_verify_callback(recording(calls))
    client, _server = handshake(
        chain_server(pyssl, chain), ctx, server_hostname=server_hostname
    )
    assert type(client) is pyssl.SSLCertVerificationError
    assert client.verify_code == expected[1]
    assert [(depth, code, ok) for _der, depth, code, ok in calls if not ok] == [
        (*expected, False)
    ]


# ---- the verdict ---------------------------------------------------------------


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("pinned", [True, False], ids=["pin matches", "pin differs"])
def test_pinning_by_fingerprint_decides_alone(
    handshake, certs, chain, peer, trusted, pinned
):
    """A callback that pins the server's certificate by its SHA-256
    fingerprint accepts a chain OpenSSL rejects and rejects one it accepts."""
    leaf_fingerprint = hashlib.sha256(chain[2][2]).hexdigest()
    pin = (
        leaf_fingerprint
        if pinned
        else hashlib.sha256(b"another certificate").hexdigest()
    )

    def pinning(certificate, depth, error_code, preverified):
        return fingerprint(certificate) == pin if depth == 0 else True

    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(chain[1] if trusted else certs.other_ca)
    ctx.set_verify_callback(pinning)
    client, server = handshake(chain_server(peer, chain), ctx)
    if pinned:
        assert (client, server) == ("TLSv1.3", "TLSv1.3")
        return
    assert type(client) is pyssl.SSLCertVerificationError
    assert (client.library, client.reason) == ("SSL", "CERTIFICATE_VERIFY_FAILED")
    # The fault OpenSSL found in the untrusted chain was accepted (at
    # depth 1): what fails is the application's own check.
    assert (client.verify_code, client.verify_message) == (
        APPLICATION_VERIFICATION,
        "application verification failure",
    )
    assert isinstance(server, peer.SSLError)


def test_refusing_a_fault_keeps_openssls_reason(handshake, certs, chain):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.other_ca)
    ctx.set_verify_callback(lambda cert, depth, code, ok: ok)
    client, _server = handshake(chain_server(pyssl, chain), ctx)
    assert type(client) is pyssl.SSLCertVerificationError
    assert (client.verify_code, client.verify_message) == (
        UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
        "unable to get local issuer certificate",
    )


@pytest.mark.parametrize("result", [None, 0, "", []], ids=repr)
def test_a_false_result_rejects(handshake, chain, result):
    client, _server = handshake(
        chain_server(pyssl, chain), chain_client(chain, lambda *a: result)
    )
    assert type(client) is pyssl.SSLCertVerificationError
    assert client.verify_code == APPLICATION_VERIFICATION


@pytest.mark.parametrize("result", [1, "yes", [0]], ids=repr)
def test_a_true_result_accepts(handshake, certs, chain, result):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.other_ca)  # OpenSSL alone would refuse
    ctx.set_verify_callback(lambda *a: result)
    client, _server = handshake(chain_server(pyssl, chain), ctx)
    assert client == "TLSv1.3"


def test_accepted_peer_certificate_is_reported(handshake, certs, chain):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.other_ca)
    ctx.set_verify_callback(lambda *a: True)
    client, _server = handshake(
        chain_server(pyssl, chain),
        ctx,
        on_client=lambda tls: tls.getpeercert(binary_form=True),
    )
    assert client == chain[2][2]


def test_none_removes_the_callback(handshake, certs, chain):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.other_ca)
    ctx.set_verify_callback(lambda *a: True)
    ctx.set_verify_callback(None)
    client, _server = handshake(chain_server(pyssl, chain), ctx)
    assert type(client) is pyssl.SSLCertVerificationError
    assert client.verify_code == UNABLE_TO_GET_ISSUER_CERT_LOCALLY


def test_changing_verify_mode_keeps_the_callback(handshake, chain):
    calls = []
    ctx = chain_client(chain, recording(calls), check_hostname=False)
    ctx.verify_mode = pyssl.CERT_OPTIONAL
    ctx.verify_mode = pyssl.CERT_REQUIRED
    client, _server = handshake(chain_server(pyssl, chain), ctx)
    assert client == "TLSv1.3"
    assert [depth for _der, depth, _code, _ok in calls] == [2, 1, 0]


def test_connection_made_before_the_callback_calls_none(chain):
    ctx = chain_client(chain, None)
    pair = BioPair(ctx, chain_server(pyssl, chain))
    calls = []
    ctx.set_verify_callback(recording(calls, decide=lambda depth: False))
    pair.handshake()
    assert calls == []
    assert pair.client.version() == "TLSv1.3"


def test_callback_of_the_context_before_sni_judges(serve, certs, second_server):
    """A server's SNI callback may switch the context; OpenSSL keeps the
    verify settings of the first, and so does the callback."""
    calls = []
    first = verifying_server(certs, lambda *args: calls.append("first") or True)
    second = verifying_server(certs, lambda *args: calls.append("second") or True)
    second.load_cert_chain(second_server[0])

    def switch(sock, name, ctx):
        sock.context = second

    first.sni_callback = switch
    client_ctx = certificate_client(pyssl, certs)
    client_ctx.load_verify_locations(second_server[2])
    server, client = client_certificate_handshake(serve, first, client_ctx)
    assert (server, client) == (der_of(certs.client_cert), b"accepted")
    assert calls == ["first", "first"]


@pytest.mark.parametrize("value", [3, "callback", b"x"])
def test_callback_that_is_not_callable_raises_type_error(value):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError) as info:
        ctx.set_verify_callback(value)
    assert info.value.args == ("not a callable object",)


# ---- a callback that raises -------------------------------------------------------


class Refused(Exception):
    pass


def raising(exception):
    def callback(certificate, depth, error_code, preverified):
        raise exception

    return callback


@pytest.mark.parametrize(
    "exception",
    [Refused("pinned elsewhere"), KeyboardInterrupt()],
    ids=["Exception", "KeyboardInterrupt"],
)
def test_exception_is_raised_by_the_handshake(serve, chain, exception):
    server_ctx = chain_server(pyssl, chain)
    server_errors = []

    def handler(conn):
        try:
            server_ctx.wrap_socket(conn, server_side=True)
        except pyssl.SSLError as exc:
            server_errors.append(exc)

    server = serve(handler)
    ctx = chain_client(chain, raising(exception))
    with server.connect() as raw, pytest.raises(type(exception)) as info:
        ctx.wrap_socket(raw, server_hostname="localhost")
    server.join()
    assert info.value is exception
    cause = info.value.__cause__
    assert type(cause) is pyssl.SSLCertVerificationError
    assert info.value.__context__ is cause
    assert cause.verify_code == APPLICATION_VERIFICATION
    assert [type(e) for e in server_errors] == [pyssl.SSLError]


def test_exception_is_raised_by_sslobject_do_handshake(chain):
    exception = Refused("over memory BIOs")
    pair = BioPair(chain_client(chain, raising(exception)), chain_server(pyssl, chain))
    with pytest.raises(Refused) as info:
        pair.handshake()
    assert info.value is exception
    assert type(info.value.__cause__) is pyssl.SSLCertVerificationError


def test_exception_is_raised_when_verification_is_off(serve, chain):
    """With CERT_NONE OpenSSL ignores the verdict and completes the
    handshake, but the exception is not swallowed."""
    server_ctx = chain_server(pyssl, chain)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            return tls.version()

    server = serve(handler)
    exception = Refused("not swallowed")
    ctx = chain_client(
        chain, raising(exception), check_hostname=False, verify_mode=pyssl.CERT_NONE
    )
    with server.connect() as raw, pytest.raises(Refused) as info:
        ctx.wrap_socket(raw, server_hostname="localhost")
    assert server.join() == ["TLSv1.3"]
    assert info.value is exception
    assert info.value.__cause__ is None


# ---- a server verifying client certificates --------------------------------------


def verifying_server(certs, callback, **settings):
    settings.setdefault("verify_mode", pyssl.CERT_REQUIRED)
    ctx = server_context(pyssl, certs, **settings)
    ctx.load_verify_locations(certs.ca)
    ctx.set_verify_callback(callback)
    return ctx


def certificate_client(module, certs, **settings):
    ctx = client_context(module, certs, **settings)
    ctx.load_cert_chain(certs.client_chain)
    return ctx


def client_certificate_handshake(serve, server_ctx, client_ctx):
    """(server's result, client's) for a client that presents its
    certificate to a verifying server. In TLS 1.3 the client has finished
    its handshake before the server verifies: a refusal reaches it with
    its first read."""

    def handler(conn):
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"accepted")
                return tls.getpeercert(binary_form=True)
        except BaseException as exc:
            return exc

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        try:
            client = tls.recv(8)
        except OSError as exc:
            client = exc
    [server_result] = server.join()
    return server_result, client


@pytest.mark.parametrize("verdict", [True, False], ids=["accepts", "rejects"])
def test_server_callback_judges_the_client_certificate(serve, certs, peer, verdict):
    calls = []
    decide = None if verdict else refusing_the_peer
    server, client = client_certificate_handshake(
        serve,
        verifying_server(certs, recording(calls, decide)),
        certificate_client(peer, certs),
    )
    assert calls == [
        (der_of(certs.ca), 1, OK, True),
        (der_of(certs.client_cert), 0, OK, True),
    ]
    if verdict:
        assert (server, client) == (der_of(certs.client_cert), b"accepted")
    else:
        assert type(server) is pyssl.SSLCertVerificationError
        assert server.verify_code == APPLICATION_VERIFICATION
        assert type(client) is peer.SSLError
        # OpenSSL's alert for an application's refusal.
        assert client.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


def test_server_callback_exception_is_raised_on_the_server(serve, certs, peer):
    exception = Refused("client refused")
    server, client = client_certificate_handshake(
        serve,
        verifying_server(certs, raising(exception)),
        certificate_client(peer, certs),
    )
    assert server is exception
    assert type(server.__cause__) is pyssl.SSLCertVerificationError
    assert type(client) is peer.SSLError


def test_callback_judges_a_post_handshake_certificate(serve, certs):
    """TLS 1.3 post-handshake authentication verifies the client's
    certificate with the callback too."""
    calls = []
    server_ctx = verifying_server(
        certs,
        recording(calls),
        post_handshake_auth=True,
        verify_mode=pyssl.CERT_OPTIONAL,
    )

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1024) == b"hello\n"
            assert calls == []
            tls.verify_client_post_handshake()
            tls.sendall(b"who are you?\n")
            assert tls.recv(1024) == b"it is me\n"
            return tls.getpeercert(binary_form=True)

    server = serve(handler)
    ctx = certificate_client(pyssl, certs, post_handshake_auth=True)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"hello\n")
        assert tls.recv(1024) == b"who are you?\n"
        tls.sendall(b"it is me\n")
    assert server.join() == [der_of(certs.client_cert)]
    assert [(cert, depth) for cert, depth, _code, _ok in calls] == [
        (der_of(certs.ca), 1),
        (der_of(certs.client_cert), 0),
    ]


# ---- against the openssl programs --------------------------------------------------


@needs_openssl
@pytest.mark.parametrize("pinned", [True, False], ids=["pin matches", "pin differs"])
def test_client_pins_the_certificate_of_openssl_s_server(certs, openssl_server, pinned):
    proc, port = openssl_server("-www")
    pin = hashlib.sha256(
        der_of(certs.server_cert) if pinned else b"elsewhere"
    ).hexdigest()
    calls = []

    def pinning(certificate, depth, error_code, preverified):
        calls.append(depth)
        return fingerprint(certificate) == pin if depth == 0 else True

    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.other_ca)  # the pin alone decides
    ctx.set_verify_callback(pinning)
    with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
        if pinned:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.getpeercert(binary_form=True) == der_of(certs.server_cert)
        else:
            with pytest.raises(pyssl.SSLCertVerificationError) as info:
                ctx.wrap_socket(raw, server_hostname="localhost")
            assert info.value.verify_code == UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    assert 0 in calls


@needs_openssl
@pytest.mark.parametrize("verdict", [True, False], ids=["accepts", "rejects"])
def test_server_judges_the_certificate_of_openssl_s_client(serve, certs, verdict):
    calls = []
    server_ctx = verifying_server(
        certs, recording(calls, None if verdict else refusing_the_peer)
    )

    def handler(conn):
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"accepted\n")
                return tls.getpeercert(binary_form=True)
        except pyssl.SSLError as exc:
            return exc

    server = serve(handler)
    client = OpenSSLProcess(
        [
            "s_client",
            "-connect",
            f"127.0.0.1:{server.port}",
            "-CAfile",
            certs.ca,
            "-servername",
            "localhost",
            "-cert",
            certs.client_cert,
            "-key",
            certs.client_key,
        ]
    )
    try:
        if verdict:
            client.wait_for(b"accepted")
        [result] = server.join()
    finally:
        client.stop()
    assert (der_of(certs.client_cert), 0, OK, True) in calls
    if verdict:
        assert result == der_of(certs.client_cert)
    else:
        assert type(result) is pyssl.SSLCertVerificationError
        assert result.verify_code == APPLICATION_VERIFICATION


def test_has_verify_callback_is_true():
    assert pyssl.HAS_VERIFY_CALLBACK is True
    assert "HAS_VERIFY_CALLBACK" in pyssl.__all__
