"""Pre-shared keys: SSLContext.set_psk_client_callback() and
set_psk_server_callback() (the stdlib's API since Python 3.13, offered by
pyssl on every version).

A client's callback gets the server's identity hint (str, or None: TLS 1.3
sends none) and returns (identity, key); a server's callback gets the
client's identity and returns the key, or b"" to refuse it. TLS 1.2 uses
the PSK cipher suites, TLS 1.3 external PSKs. The stdlib documents all of
this, so the checks run on both modules where the stdlib has the API, and
against the openssl programs."""

from __future__ import annotations

import socket

import pytest
from openssl_cli import needs_openssl
from peers import BioPair, server_context
from ssl_modules import module_offering, openssl_at_least, reason_since

import pyssl

KEY = bytes.fromhex("8a6c1e5f0d2b4e7a9c3f1b5d7e9a2c4f")
OTHER_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
IDENTITY = "client-1"
VERSIONS = ["TLSv1_2", "TLSv1_3"]


def psk_module(name):
    return module_offering(
        name, "SSLContext", "set_psk_client_callback", "PSK callbacks (new in 3.13)"
    )


@pytest.fixture(params=["pyssl", "stdlib"])
def either(request):
    """pyssl or the stdlib, where the stdlib has the PSK API."""
    return psk_module(request.param)


@pytest.fixture(params=["pyssl", "stdlib"])
def peer(request):
    """The module on the other end, where the stdlib has the PSK API."""
    return psk_module(request.param)


def psk_client(module, version, callback):
    ctx = module.SSLContext(module.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = module.CERT_NONE  # no certificates at all
    ctx.maximum_version = getattr(module.TLSVersion, version)
    if version == "TLSv1_2":
        ctx.set_ciphers("PSK")
    ctx.set_psk_client_callback(callback)
    return ctx


def psk_server(module, version, callback, identity_hint=None):
    ctx = module.SSLContext(module.PROTOCOL_TLS_SERVER)  # no certificate
    if version == "TLSv1_2":
        ctx.set_ciphers("PSK")
    ctx.set_psk_server_callback(callback, identity_hint)
    return ctx


def client_giving(identity=IDENTITY, key=KEY, hints=None):
    def callback(hint):
        if hints is not None:
            hints.append(hint)
        return identity, key

    return callback


def server_knowing(keys, identities=None):
    def callback(identity):
        if identities is not None:
            identities.append(identity)
        return keys.get(identity, b"")

    return callback


# ---- handshakes -----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_handshake(handshake, either, peer, version):
    hints, identities = [], []
    server_ctx = psk_server(
        peer, version, server_knowing({IDENTITY: KEY}, identities), "the hint"
    )
    client_ctx = psk_client(either, version, client_giving(hints=hints))
    client, server = handshake(
        server_ctx,
        client_ctx,
        server_hostname=None,
        on_client=lambda tls: (tls.version(), tls.cipher()[0]),
        on_server=lambda tls: (tls.version(), tls.cipher()[0]),
    )
    assert client == server
    if version == "TLSv1_2":
        assert client[0] == "TLSv1.2"
        assert "PSK" in client[1].split("-")
        assert hints == ["the hint"]
    else:
        assert client[0] == "TLSv1.3"
        assert hints == [None]  # TLS 1.3 has no identity hint
    assert identities == [IDENTITY]


@pytest.mark.parametrize(
    "hint, received",
    [(None, None), ("", None), ("hint", "hint"), ("hïnt ☃", "hïnt ☃")],
    ids=["None", "empty", "ASCII", "UTF-8"],
)
def test_identity_hints(handshake, either, peer, hint, received):
    hints = []
    server_ctx = psk_server(peer, "TLSv1_2", server_knowing({IDENTITY: KEY}), hint)
    client_ctx = psk_client(either, "TLSv1_2", client_giving(hints=hints))
    assert handshake(server_ctx, client_ctx, server_hostname=None) == (
        "TLSv1.2",
        "TLSv1.2",
    )
    assert hints == [received]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "identity", ["ïdentity ☃", b"bytes-identity"], ids=["UTF-8", "bytes"]
)
def test_identities(handshake, either, peer, version, identity):
    name = identity.decode() if isinstance(identity, bytes) else identity
    identities = []
    server_ctx = psk_server(peer, version, server_knowing({name: KEY}, identities))
    client_ctx = psk_client(either, version, client_giving(identity))
    client, server = handshake(server_ctx, client_ctx, server_hostname=None)
    assert client == server == version.replace("_", ".")
    assert identities == [name]


@pytest.mark.parametrize("identity", [None, ""], ids=["None", "empty"])
def test_an_empty_identity_is_none_on_the_server(handshake, either, peer, identity):
    identities = []
    server_ctx = psk_server(peer, "TLSv1_2", server_knowing({None: KEY}, identities))
    client_ctx = psk_client(either, "TLSv1_2", client_giving(identity))
    assert handshake(server_ctx, client_ctx, server_hostname=None) == (
        "TLSv1.2",
        "TLSv1.2",
    )
    assert identities == [None]


def test_an_sslobject_handshake(either):
    server_ctx = psk_server(either, "TLSv1_3", server_knowing({IDENTITY: KEY}))
    pair = BioPair(
        psk_client(either, "TLSv1_3", client_giving()), server_ctx, server_hostname=None
    )
    pair.handshake()
    assert pair.send(b"psk") == b"psk"


# ---- refused handshakes ------------------------------------------------------------------------


def failed(handshake, server_ctx, client_ctx):
    client, server = handshake(server_ctx, client_ctx, server_hostname=None)
    assert isinstance(client, Exception), client
    assert isinstance(server, Exception), server
    return client, server


def wrong_key_reasons(version, server_module):
    """(client reason, server reason): both depend on the server's OpenSSL.
    Since 3.2 a record that fails to decrypt ends with the record layer's
    RECORD_LAYER_FAILURE; since 3.4 a binder that does not verify draws the
    decrypt_error alert RFC 8446 (section 6.2) names, not illegal_parameter."""
    if version == "TLSv1_2":
        return (
            "SSLV3_ALERT_BAD_RECORD_MAC",
            reason_since(server_module, "RECORD_LAYER_FAILURE", 3, 2)
            if openssl_at_least(server_module, 3, 2)
            else "DECRYPTION_FAILED_OR_BAD_RECORD_MAC",
        )
    return (
        "TLSV1_ALERT_DECRYPT_ERROR"
        if openssl_at_least(server_module, 3, 4)
        else "SSLV3_ALERT_ILLEGAL_PARAMETER",
        "BINDER_DOES_NOT_VERIFY",
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_wrong_key_fails_both_ends(handshake, either, peer, version):
    server_ctx = psk_server(peer, version, server_knowing({IDENTITY: KEY}))
    client_ctx = psk_client(either, version, client_giving(key=OTHER_KEY))
    client, server = failed(handshake, server_ctx, client_ctx)
    assert (type(client), type(server)) == (either.SSLError, peer.SSLError)
    assert (client.reason, server.reason) == wrong_key_reasons(version, peer)


def test_an_unknown_identity_is_refused_over_tls_1_2(handshake, either, peer):
    server_ctx = psk_server(peer, "TLSv1_2", server_knowing({"someone else": KEY}))
    client, server = failed(
        handshake, server_ctx, psk_client(either, "TLSv1_2", client_giving())
    )
    assert (type(server), server.reason) == (peer.SSLError, "PSK_IDENTITY_NOT_FOUND")
    # The stdlib's table of reason names predates this alert: no reason.
    assert type(client) is either.SSLError
    assert "tlsv1 alert unknown psk identity" in str(client)


def test_an_unknown_identity_over_tls_1_3_leaves_the_server_without_credentials(
    handshake, either, peer
):
    # The PSK is ignored and the server, having no certificate, cannot go on.
    server_ctx = psk_server(peer, "TLSv1_3", server_knowing({"someone else": KEY}))
    client, server = failed(
        handshake, server_ctx, psk_client(either, "TLSv1_3", client_giving())
    )
    assert (type(client), client.reason) == (
        either.SSLError,
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    )
    assert (type(server), server.reason) == (
        peer.SSLError,
        "NO_SUITABLE_SIGNATURE_ALGORITHM",
    )


# ---- callbacks that fail ----------------------------------------------------------------------


class CallbackFailure(Exception):
    pass


def raising(argument):
    raise CallbackFailure(argument)


# What the failing callback returns: (callback, the error reported), with
# the messages both modules give.
CLIENT_FAILURES = {
    "raises": (raising, CallbackFailure(None)),
    "key is a str": (
        lambda hint: (IDENTITY, "key"),
        TypeError("a bytes-like object is required, not 'str'"),
    ),
    "key is a bytearray": (
        lambda hint: (IDENTITY, bytearray(KEY)),
        TypeError("argument 2 must be read-only bytes-like object, not bytearray"),
    ),
    "three items": (
        lambda hint: (IDENTITY, KEY, 3),
        TypeError("function takes exactly 2 arguments (3 given)"),
    ),
}
SERVER_FAILURES = {
    "raises": (raising, CallbackFailure(IDENTITY)),
    "returns a str": (lambda identity: "key", TypeError("expected bytes, str found")),
    "returns a bytearray": (
        lambda identity: bytearray(KEY),
        TypeError("expected bytes, bytearray found"),
    ),
}


def check_report(unraisable, error):
    [report] = unraisable
    assert report.exc_type is type(error)
    assert type(report.exc_value) is type(error)
    assert report.exc_value.args == error.args
    return report.exc_value


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("failure", CLIENT_FAILURES)
def test_a_failing_client_callback(
    handshake, either, peer, unraisable, version, failure
):
    callback, error = CLIENT_FAILURES[failure]
    server_ctx = psk_server(peer, version, server_knowing({IDENTITY: KEY}))
    client, server = failed(
        handshake, server_ctx, psk_client(either, version, callback)
    )
    if version == "TLSv1_2":
        assert client.reason == "PSK_IDENTITY_NOT_FOUND"
    else:
        # No PSK is offered; the server has no certificate to go on with.
        assert client.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"
    reported = check_report(unraisable, error)
    if either is pyssl:
        # pyssl also chains it to the handshake's error.
        assert client.__cause__ is reported


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("failure", SERVER_FAILURES)
def test_a_failing_server_callback(
    handshake, either, peer, unraisable, version, failure
):
    callback, error = SERVER_FAILURES[failure]
    server_ctx = psk_server(either, version, callback)
    client, server = failed(
        handshake, server_ctx, psk_client(peer, version, client_giving())
    )
    expected = (
        "PSK_IDENTITY_NOT_FOUND"
        if version == "TLSv1_2"
        else "NO_SUITABLE_SIGNATURE_ALGORITHM"
    )
    assert (type(server), server.reason) == (either.SSLError, expected)
    reported = check_report(unraisable, error)
    if either is pyssl:
        assert server.__cause__ is reported


def test_a_client_callback_returning_no_tuple(handshake, unraisable):
    # pyssl alone: the stdlib reports a SystemError from its argument parser.
    server_ctx = psk_server(pyssl, "TLSv1_2", server_knowing({IDENTITY: KEY}))
    failed(handshake, server_ctx, psk_client(pyssl, "TLSv1_2", lambda hint: KEY))
    check_report(
        unraisable, TypeError("PSK client callback must return a tuple (identity, psk)")
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_a_key_too_long_is_refused_quietly(handshake, either, unraisable, version):
    server_ctx = psk_server(either, version, server_knowing({IDENTITY: KEY}))
    failed(
        handshake,
        server_ctx,
        psk_client(either, version, client_giving(key=b"k" * 600)),
    )
    assert unraisable == []


# ---- setting the callbacks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, protocol, message",
    [
        (
            "set_psk_client_callback",
            "PROTOCOL_TLS_SERVER",
            "Cannot add PSK client callback to a PROTOCOL_TLS_SERVER context",
        ),
        (
            "set_psk_server_callback",
            "PROTOCOL_TLS_CLIENT",
            "Cannot add PSK server callback to a PROTOCOL_TLS_CLIENT context",
        ),
    ],
    ids=["client callback", "server callback"],
)
def test_the_wrong_kind_of_context_is_an_sslerror(either, method, protocol, message):
    ctx = either.SSLContext(getattr(either, protocol))
    with pytest.raises(either.SSLError) as info:
        getattr(ctx, method)(client_giving())
    assert type(info.value) is either.SSLError
    assert info.value.args[0] == 0
    assert str(info.value).startswith(message + " (")
    assert (info.value.library, info.value.reason) == (None, None)


@pytest.mark.parametrize(
    "method", ["set_psk_client_callback", "set_psk_server_callback"]
)
@pytest.mark.parametrize("value", [42, "callback"], ids=["int", "str"])
def test_non_callables_are_type_errors(either, method, value):
    with pytest.warns(DeprecationWarning):
        ctx = either.SSLContext(either.PROTOCOL_TLS)  # either end
    with pytest.raises(TypeError) as info:
        getattr(ctx, method)(value)
    assert str(info.value) == "callback must be callable"


@pytest.mark.parametrize("protocol", ["PROTOCOL_TLS_SERVER", "PROTOCOL_TLS_CLIENT"])
@pytest.mark.parametrize("value, type_name", [(b"hint", "bytes"), (42, "int")])
def test_identity_hint_must_be_a_str(either, value, type_name, protocol):
    # On a client context too: the argument is checked before the context.
    ctx = either.SSLContext(getattr(either, protocol))
    with pytest.raises(TypeError) as info:
        ctx.set_psk_server_callback(server_knowing({}), value)
    assert str(info.value) == (
        f"set_psk_server_callback() argument 'identity_hint' must be str or None, not {type_name}"
    )


@pytest.mark.parametrize("protocol", ["PROTOCOL_TLS_SERVER", "PROTOCOL_TLS_CLIENT"])
def test_an_identity_hint_with_a_nul_is_refused(either, protocol):
    # OpenSSL would send the hint up to the NUL. Checked with the type.
    ctx = either.SSLContext(getattr(either, protocol))
    with pytest.raises(ValueError) as info:
        ctx.set_psk_server_callback(server_knowing({}), "hint\0more")
    assert str(info.value) == "embedded null character"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "identity", ["client\0other", b"client\0other"], ids=["str", "bytes"]
)
def test_a_client_identity_with_a_nul_is_refused(
    handshake, unraisable, version, identity
):
    """pyssl alone: OpenSSL would send the identity up to the NUL, another
    identity than the callback's (the stdlib sends that one)."""
    identities = []
    server_ctx = psk_server(pyssl, version, server_knowing({"client": KEY}, identities))
    failed(
        handshake,
        server_ctx,
        psk_client(pyssl, version, client_giving(identity=identity)),
    )
    check_report(unraisable, ValueError("embedded null character in the PSK identity"))
    assert identities == []


def test_none_removes_the_client_callback(handshake, certs, either):
    # Without a PSK callback the client verifies certificates again.
    hints = []
    client_ctx = psk_client(either, "TLSv1_3", client_giving(hints=hints))
    client_ctx.set_psk_client_callback(None)
    client_ctx.verify_mode = either.CERT_REQUIRED
    client_ctx.load_verify_locations(certs.ca)
    server_ctx = server_context(either, certs)
    server_ctx.set_psk_server_callback(server_knowing({IDENTITY: KEY}))
    assert handshake(server_ctx, client_ctx) == ("TLSv1.3", "TLSv1.3")
    assert hints == []


def test_none_removes_the_server_callback(handshake, either):
    identities = []
    server_ctx = psk_server(
        either, "TLSv1_2", server_knowing({IDENTITY: KEY}, identities)
    )
    server_ctx.set_psk_server_callback(None)
    client, server = failed(
        handshake, server_ctx, psk_client(either, "TLSv1_2", client_giving())
    )
    assert identities == []


# ---- the openssl programs --------------------------------------------------------------------

# s_server and s_client expect the identity "Client_identity" by default.
OPENSSL_IDENTITY = "Client_identity"


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_pyssl_client_with_openssl_s_server(openssl_server, version):
    flag = "-tls1_2" if version == "TLSv1_2" else "-tls1_3"
    proc, port = openssl_server(
        "-nocert", "-psk", KEY.hex(), "-psk_hint", "from s_server", flag
    )
    hints = []
    ctx = psk_client(pyssl, version, client_giving(OPENSSL_IDENTITY, hints=hints))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            assert tls.version() == version.replace("_", ".")
            tls.sendall(b"over PSK\n")
            proc.wait_for(b"over PSK")
    assert hints == (["from s_server"] if version == "TLSv1_2" else [None])


@needs_openssl
def test_a_wrong_key_with_openssl_s_server(openssl_server):
    proc, port = openssl_server("-nocert", "-psk", KEY.hex(), "-tls1_2")
    ctx = psk_client(pyssl, "TLSv1_2", client_giving(OPENSSL_IDENTITY, key=OTHER_KEY))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises(pyssl.SSLError) as info:
            ctx.wrap_socket(raw)
    assert info.value.reason == "SSLV3_ALERT_BAD_RECORD_MAC"


@needs_openssl
@pytest.mark.parametrize("version", VERSIONS)
def test_pyssl_server_with_openssl_s_client(serve, openssl_client, version):
    identities = []
    ctx = psk_server(
        pyssl, version, server_knowing({OPENSSL_IDENTITY: KEY}, identities)
    )

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello over PSK\n")
            version = tls.version()
            try:
                tls.recv(1)  # until s_client goes
            except OSError:
                pass
            return version

    server = serve(handler)
    flag = "-tls1_2" if version == "TLSv1_2" else "-tls1_3"
    client = openssl_client(server.port, "-psk", KEY.hex(), flag)
    client.wait_for(b"hello over PSK")
    client.stop()
    assert server.join() == [version.replace("_", ".")]
    assert identities == [OPENSSL_IDENTITY]
