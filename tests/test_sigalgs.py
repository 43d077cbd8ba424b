"""TLS signature algorithms (Python 3.15): ssl.get_sigalgs(),
SSLContext.set_client_sigalgs() and set_server_sigalgs(), and
client_sigalg() and server_sigalg() on SSLSocket, SSLObject and their
``_sslobj``.

set_server_sigalgs() limits what the server may sign the handshake with,
set_client_sigalgs() what a client may sign its certificate-based
authentication with; both work with OpenSSL 3.0. The names of the
algorithms used come from OpenSSL 3.5 (client_sigalg(), server_sigalg())
and the list of those implemented from 3.4 (get_sigalgs()): before, OpenSSL
gives only the hash and key type of a signature, which do not tell the TLS
1.3 schemes apart, so these raise NotImplementedError, as in the stdlib.
client_sigalg() is None without client authentication, server_sigalg()
when the server signed nothing (a resumed session; RSA key transport, as
the client sees it), and both before the handshake.

Each behaviour runs on pyssl, on the stdlib where the running Python has
the method, and against the openssl programs."""

from __future__ import annotations

import re
import socket

import pytest
from openssl_cli import needs_openssl
from peers import TIMEOUT, BioPair, client_context, server_context
from ssl_modules import module_offering, openssl_at_least

import pyssl

ERROR_LOCATION = re.compile(r" \((?:_ssl\.c|pyssl):[^)]*\)$")
NAMES_IN = "OpenSSL 3.5 names the signature algorithm a handshake used; this is "
needs_names = pytest.mark.skipif(
    not openssl_at_least(pyssl, 3, 5), reason=NAMES_IN + pyssl.OPENSSL_VERSION
)
without_names = pytest.mark.skipif(
    openssl_at_least(pyssl, 3, 5), reason=NAMES_IN + pyssl.OPENSSL_VERSION
)


def sigalgs_module(name):
    return module_offering(
        name,
        "SSLContext",
        "set_server_sigalgs",
        "signature algorithm API (new in 3.15)",
    )


@pytest.fixture(params=["pyssl", "stdlib"])
def either(request):
    """pyssl or the stdlib, where the stdlib has the signature algorithm API."""
    return sigalgs_module(request.param)


def contexts(module, certs, client_auth=False, **client_settings):
    client_ctx = client_context(module, certs, **client_settings)
    server_ctx = server_context(module, certs)
    if client_auth:
        client_ctx.load_cert_chain(certs.client_chain)
        server_ctx.load_verify_locations(certs.ca)
        server_ctx.verify_mode = module.CERT_OPTIONAL
    return client_ctx, server_ctx


def sigalgs_of(pair):
    """(client_sigalg(), server_sigalg()) of both ends, through SSLObject and
    through _sslobj."""
    return {
        (pair.client.client_sigalg(), pair.client.server_sigalg()),
        (pair.server.client_sigalg(), pair.server.server_sigalg()),
        (pair.client._sslobj.client_sigalg(), pair.client._sslobj.server_sigalg()),
        (pair.server._sslobj.client_sigalg(), pair.server._sslobj.server_sigalg()),
    }


# ---- where the names live -----------------------------------------------------


def test_each_name_is_on_the_stdlib_s_layer():
    for name in ("set_client_sigalgs", "set_server_sigalgs"):
        assert name in vars(pyssl._ssl._SSLContext)
        assert name not in vars(pyssl.SSLContext)
    for name in ("client_sigalg", "server_sigalg"):
        assert name in vars(pyssl.SSLSocket)
        assert name in vars(pyssl.SSLObject)
        assert hasattr(pyssl._ssl._SSLSocket, name)
    assert pyssl.get_sigalgs is pyssl._ssl.get_sigalgs
    assert "get_sigalgs" in pyssl.__all__


# ---- get_sigalgs() ---------------------------------------------------------------


@pytest.mark.skipif(
    openssl_at_least(pyssl, 3, 4),
    reason="OpenSSL 3.4 lists its signature algorithms; this is "
    + pyssl.OPENSSL_VERSION,
)
def test_get_sigalgs_needs_openssl_3_4():
    with pytest.raises(NotImplementedError, match="OpenSSL 3.4"):
        pyssl.get_sigalgs()


@pytest.mark.skipif(
    not openssl_at_least(pyssl, 3, 4),
    reason="get_sigalgs() needs OpenSSL 3.4; this is " + pyssl.OPENSSL_VERSION,
)
def test_get_sigalgs_lists_what_the_setters_take():
    names = pyssl.get_sigalgs()
    assert all(type(name) is str and name for name in names)
    assert len(set(names)) == len(names)
    assert {
        "ecdsa_secp256r1_sha256",
        "rsa_pss_rsae_sha256",
        "rsa_pkcs1_sha256",
        "ed25519",
    } <= set(names)
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    for name in names:
        assert ctx.set_client_sigalgs(name) is None
        assert ctx.set_server_sigalgs(name) is None


# ---- the setters ------------------------------------------------------------------


SETTERS = ["set_client_sigalgs", "set_server_sigalgs"]


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize(
    "sigalgs",
    [
        "ecdsa_secp256r1_sha256",
        "rsa_pss_rsae_sha256:ed25519",
        "ECDSA+SHA256:RSA-PSS+SHA384",
    ],
)
def test_the_setters_take_openssl_lists(either, setter, sigalgs):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    assert getattr(ctx, setter)(sigalgs) is None


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize(
    "sigalgs", ["", "FOO", "ecdsa_secp256r1_sha256:FOO", "ECDSA+MD4", ":"]
)
def test_an_unknown_algorithm_is_an_sslerror(either, setter, sigalgs):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(either.SSLError) as info:
        getattr(ctx, setter)(sigalgs)
    error = info.value
    # The stdlib's own words: OpenSSL queues no reason for these.
    assert error.args[0] == 0
    assert ERROR_LOCATION.sub("", error.args[1]) == "unrecognized signature algorithm"
    assert (error.library, error.reason) == (None, None)


@pytest.mark.parametrize("setter", SETTERS)
@pytest.mark.parametrize(
    "value, error, message",
    [
        (b"ed25519", TypeError, "{}() argument must be str, not bytes"),
        (None, TypeError, "{}() argument must be str, not None"),
        ("ed25519\0", ValueError, "embedded null character"),
    ],
    ids=["bytes", "None", "NUL"],
)
def test_the_argument_is_a_str_without_nul(either, setter, value, error, message):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(error, match=f"^{re.escape(message.format(setter))}$"):
        getattr(ctx, setter)(value)
    with pytest.raises(TypeError):
        getattr(ctx, setter)(sigalgs="ed25519")


def test_server_sigalgs_the_server_cannot_satisfy_fail_the_handshake(either, certs):
    # An ECDSA certificate cannot make an RSA-PSS signature.
    client_ctx, server_ctx = contexts(either, certs)
    client_ctx.set_server_sigalgs("rsa_pss_rsae_sha256")
    with pytest.raises(either.SSLError):
        BioPair(client_ctx, server_ctx).handshake()


@pytest.mark.parametrize(
    "allowed, sent",
    [("ecdsa_secp384r1_sha384", False), ("ecdsa_secp256r1_sha256", True)],
)
def test_client_sigalgs_decide_whether_the_client_can_authenticate(
    either, certs, allowed, sent
):
    # The client's key is on P-256: in TLS 1.3 the curve is part of the scheme.
    client_ctx, server_ctx = contexts(either, certs, client_auth=True)
    server_ctx.set_client_sigalgs(allowed)
    pair = BioPair(client_ctx, server_ctx).handshake()
    pair.send(b"x")  # the server reads the client's certificate with the Finished
    assert (pair.server.getpeercert() is not None) is sent


# ---- client_sigalg() and server_sigalg() with OpenSSL 3.0 to 3.4 ------------------


@without_names
@pytest.mark.parametrize("method", ["client_sigalg", "server_sigalg"])
def test_the_getters_need_openssl_3_5(certs, method):
    client_ctx, server_ctx = contexts(pyssl, certs, client_auth=True)
    pair = BioPair(client_ctx, server_ctx)
    for obj in (pair.client, pair.client._sslobj, pair.server, pair.server._sslobj):
        with pytest.raises(NotImplementedError, match="OpenSSL 3.5"):
            getattr(obj, method)()
    pair.handshake()
    for obj in (pair.client, pair.client._sslobj, pair.server, pair.server._sslobj):
        with pytest.raises(NotImplementedError, match="OpenSSL 3.5"):
            getattr(obj, method)()


# ---- client_sigalg() and server_sigalg() with OpenSSL 3.5 ---------------------------


@needs_names
def test_none_before_the_handshake(either, certs):
    pair = BioPair(*contexts(either, certs, client_auth=True))
    assert sigalgs_of(pair) == {(None, None)}


@needs_names
def test_the_server_s_signature_without_client_authentication(either, certs):
    pair = BioPair(*contexts(either, certs)).handshake()
    assert sigalgs_of(pair) == {(None, "ecdsa_secp256r1_sha256")}


@needs_names
def test_both_signatures_with_client_authentication(either, certs):
    pair = BioPair(*contexts(either, certs, client_auth=True)).handshake()
    pair.send(b"x")
    assert sigalgs_of(pair) == {("ecdsa_secp256r1_sha256", "ecdsa_secp256r1_sha256")}


PSS = "rsa_pss_rsae_sha{}".format


@needs_names
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
@pytest.mark.parametrize(
    "settings, expected",
    [
        ({}, (PSS(256), PSS(256))),
        # What the server asks the client to sign with.
        ({"server": {"set_client_sigalgs": PSS(512)}}, (PSS(512), PSS(256))),
        # What the client accepts from the server, and, without a list of
        # its own for client authentication, signs with itself.
        ({"client": {"set_server_sigalgs": PSS(384)}}, (PSS(384), PSS(384))),
        (
            {
                "client": {
                    "set_server_sigalgs": PSS(384),
                    "set_client_sigalgs": PSS(512),
                }
            },
            (PSS(512), PSS(384)),
        ),
    ],
    ids=["defaults", "server-asks", "client-accepts", "client-both"],
)
def test_rsa_signatures_follow_the_lists(
    either, rsa_certs, version, settings, expected
):
    client_ctx, server_ctx = contexts(
        either,
        rsa_certs,
        client_auth=True,
        maximum_version=getattr(either.TLSVersion, version),
    )
    for side, ctx in (("client", client_ctx), ("server", server_ctx)):
        for setter, value in settings.get(side, {}).items():
            getattr(ctx, setter)(value)
    pair = BioPair(client_ctx, server_ctx).handshake()
    pair.send(b"x")
    assert sigalgs_of(pair) == {expected}


@needs_names
def test_tls_1_2_pkcs1_signature(either, rsa_certs):
    client_ctx, server_ctx = contexts(
        either, rsa_certs, maximum_version=either.TLSVersion.TLSv1_2
    )
    server_ctx.set_server_sigalgs("rsa_pkcs1_sha384")  # what the server may use
    pair = BioPair(client_ctx, server_ctx).handshake()
    assert sigalgs_of(pair) == {(None, "rsa_pkcs1_sha384")}


@needs_names
def test_nothing_signed_in_an_rsa_key_transport(either, rsa_certs):
    client_ctx, server_ctx = contexts(
        either, rsa_certs, maximum_version=either.TLSVersion.TLSv1_2
    )
    for ctx in (client_ctx, server_ctx):
        ctx.set_ciphers("AES128-GCM-SHA256")
    pair = BioPair(client_ctx, server_ctx).handshake()
    # The client got no signed key exchange. OpenSSL picks a scheme for the
    # server's certificate all the same, and reports it on the server side.
    assert {
        (pair.client.client_sigalg(), pair.client.server_sigalg()),
        (pair.client._sslobj.client_sigalg(), pair.client._sslobj.server_sigalg()),
    } == {(None, None)}
    assert (pair.server.client_sigalg(), pair.server.server_sigalg()) == (
        None,
        PSS(256),
    )


@needs_names
def test_nothing_signed_in_a_resumed_session(either, certs):
    client_ctx, server_ctx = contexts(either, certs)
    first = BioPair(client_ctx, server_ctx).handshake()
    first.send(b"x")
    first.send(b"x", to_server=False)  # the client reads the session ticket with this
    second = BioPair(client_ctx, server_ctx, session=first.client.session).handshake()
    assert second.client.session_reused
    assert sigalgs_of(second) == {(None, None)}


@needs_names
def test_sockets_and_post_handshake_authentication(serve, certs):
    client_ctx, server_ctx = contexts(
        pyssl, certs, client_auth=True, post_handshake_auth=True
    )
    server_ctx.post_handshake_auth = True

    def probe(tls):
        return tls.client_sigalg(), tls.server_sigalg(), tls._sslobj.client_sigalg()

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            before = probe(tls)
            tls.verify_client_post_handshake()
            tls.sendall(b"!")
            assert tls.recv(1) == b"."
            return before, probe(tls)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        tls.sendall(b".")
        client_after = probe(tls)
    [(server_before, server_after)] = server.join()
    assert server_before == (None, "ecdsa_secp256r1_sha256", None)
    assert (
        server_after
        == client_after
        == (
            "ecdsa_secp256r1_sha256",
            "ecdsa_secp256r1_sha256",
            "ecdsa_secp256r1_sha256",
        )
    )


def test_a_socket_without_tls_has_none(either, certs):
    with socket.socket() as sock:
        with client_context(either, certs).wrap_socket(
            sock, server_hostname="localhost"
        ) as tls:
            assert (tls.client_sigalg(), tls.server_sigalg()) == (None, None)


# ---- against the openssl programs -----------------------------------------------------


@needs_openssl
@pytest.mark.parametrize(
    "sigalgs, digest", [(None, "SHA256"), ("rsa_pss_rsae_sha384", "SHA384")]
)
def test_s_client_sees_the_signature_a_pyssl_server_chose(
    serve, openssl_client, rsa_certs, sigalgs, digest
):
    ctx = server_context(pyssl, rsa_certs)
    if sigalgs is not None:
        ctx.set_server_sigalgs(sigalgs)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            result = tls.server_sigalg() if openssl_at_least(pyssl, 3, 5) else None
            try:
                tls.recv(1)  # until s_client goes
            except OSError:
                pass
            return result

    server = serve(handler)
    client = openssl_client(server.port, "-tls1_3")
    assert client.wait_for(b"Peer signing digest").strip().endswith(digest.encode())
    assert client.wait_for(b"Peer signature type").strip().endswith(b"RSA-PSS")
    client.wait_for(b"hello")
    client.stop()
    if openssl_at_least(pyssl, 3, 5):
        assert server.join() == [sigalgs or "rsa_pss_rsae_sha256"]
    else:
        server.join()


@needs_openssl
@needs_names
def test_pyssl_client_names_s_server_s_signature(openssl_server, certs):
    proc, port = openssl_server("-sigalgs", "ecdsa_secp256r1_sha256")
    ctx = client_context(pyssl, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert (tls.client_sigalg(), tls.server_sigalg()) == (
                None,
                "ecdsa_secp256r1_sha256",
            )
            tls.sendall(b"signed\n")
            proc.wait_for(b"signed")
