"""SSLContext.set_ciphersuites() (Python 3.15): the TLS 1.3 cipher suites a
context allows, as set_ciphers() sets those of TLS 1.2 and older.

The argument is a colon-separated list of TLS 1.3 suite names; names
OpenSSL does not know are skipped, and SSLError is raised when none is
left (the context keeps its suites then). An empty string allows no TLS
1.3 suite at all, which only a context limited to TLS 1.2 can connect
with. The method lives on the base type (``_ssl._SSLContext``),
as in the stdlib. Each behaviour runs on pyssl, on the stdlib where the
running Python has the method, and against the openssl programs."""

from __future__ import annotations

import re
import socket

import pytest
from openssl_cli import needs_openssl
from peers import TIMEOUT, BioPair, client_context, server_context
from ssl_modules import module_offering

import pyssl

AES128 = "TLS_AES_128_GCM_SHA256"
AES256 = "TLS_AES_256_GCM_SHA384"
CHACHA = "TLS_CHACHA20_POLY1305_SHA256"
NO_SUITE = "No cipher suite can be selected."


def ciphersuites_module(name):
    return module_offering(
        name,
        "SSLContext",
        "set_ciphersuites",
        "SSLContext.set_ciphersuites() (new in 3.15)",
    )


@pytest.fixture(params=["pyssl", "stdlib"])
def either(request):
    """pyssl or the stdlib, where the stdlib has set_ciphersuites()."""
    return ciphersuites_module(request.param)


def tls13_only(ctx, module):
    ctx.minimum_version = module.TLSVersion.TLSv1_3
    return ctx


def negotiated(client_ctx, server_ctx):
    """(client's cipher(), server's cipher(), version) after a handshake
    over memory BIOs."""
    pair = BioPair(client_ctx, server_ctx).handshake()
    return pair.client.cipher(), pair.server.cipher(), pair.client.version()


# ---- where the method lives -------------------------------------------------


def test_the_method_is_the_base_type_s():
    assert "set_ciphersuites" in vars(pyssl._ssl._SSLContext)
    assert "set_ciphersuites" not in vars(pyssl.SSLContext)
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    assert ctx.set_ciphersuites(AES128) is None


# ---- what it selects ----------------------------------------------------------


@pytest.mark.parametrize("suite", [AES128, AES256, CHACHA])
def test_the_client_s_only_suite_is_negotiated(either, certs, suite):
    client_ctx = client_context(either, certs)
    client_ctx.set_ciphersuites(suite)
    client, server, version = negotiated(client_ctx, server_context(either, certs))
    assert version == "TLSv1.3"
    assert client == server == (suite, "TLSv1.3", 128 if suite == AES128 else 256)


def test_the_server_s_only_suite_is_negotiated_over_sockets(handshake, either, certs):
    server_ctx = server_context(either, certs)
    server_ctx.set_ciphersuites(CHACHA)
    client, server = handshake(
        server_ctx,
        client_context(either, certs),
        on_client=lambda tls: tls.cipher()[0],
        on_server=lambda tls: tls.cipher()[0],
    )
    assert client == server == CHACHA


def test_unknown_names_are_skipped(either, certs):
    client_ctx = client_context(either, certs)
    client_ctx.set_ciphersuites(f"NOT_A_SUITE:{CHACHA}:ECDHE-RSA-AES128-GCM-SHA256")
    client, _server, _version = negotiated(client_ctx, server_context(either, certs))
    assert client[0] == CHACHA


def test_get_ciphers_lists_the_tls_1_3_suites_set(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.set_ciphersuites(f"{CHACHA}:{AES128}")
    tls13 = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.3"]
    assert tls13 == [CHACHA, AES128]


def test_the_tls_1_2_list_is_left_alone(either, certs):
    client_ctx = client_context(
        either, certs, maximum_version=either.TLSVersion.TLSv1_2
    )
    client_ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    client_ctx.set_ciphersuites(CHACHA)
    client, _server, version = negotiated(client_ctx, server_context(either, certs))
    assert (version, client[0]) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")


def test_no_common_suite_fails_the_handshake(either, certs):
    client_ctx = client_context(either, certs)
    client_ctx.set_ciphersuites(AES128)
    server_ctx = tls13_only(server_context(either, certs), either)
    server_ctx.set_ciphersuites(CHACHA)
    with pytest.raises(either.SSLError) as info:
        negotiated(client_ctx, server_ctx)
    assert info.value.reason == "NO_SHARED_CIPHER"


# ---- the empty list and failures ------------------------------------------------


def test_an_empty_list_allows_no_tls_1_3_suite(either, certs):
    client_ctx = client_context(
        either, certs, maximum_version=either.TLSVersion.TLSv1_2
    )
    client_ctx.set_ciphersuites("")
    assert [c for c in client_ctx.get_ciphers() if c["protocol"] == "TLSv1.3"] == []
    _client, server, version = negotiated(client_ctx, server_context(either, certs))
    assert version == "TLSv1.2"
    assert server[1] == "TLSv1.2"


@pytest.mark.parametrize("side", ["client", "server"])
def test_an_empty_list_with_tls_1_3_enabled_cannot_connect(either, certs, side):
    # OpenSSL wants a suite for the highest version a context enables.
    client_ctx, server_ctx = (
        client_context(either, certs),
        server_context(either, certs),
    )
    (client_ctx if side == "client" else server_ctx).set_ciphersuites("")
    with pytest.raises(either.SSLError) as info:
        negotiated(client_ctx, server_ctx)
    assert info.value.reason == "NO_CIPHERS_AVAILABLE"


ERROR_LOCATION = re.compile(r" \((?:_ssl\.c|pyssl):[^)]*\)$")


@pytest.mark.parametrize(
    "suites", ["NOT_A_SUITE", "ECDHE-RSA-AES128-GCM-SHA256", ":", AES128 + "X"]
)
def test_a_list_without_a_known_suite_is_an_sslerror(either, suites):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(either.SSLError) as info:
        ctx.set_ciphersuites(suites)
    error = info.value
    # The stdlib's own words, with no OpenSSL error behind them.
    assert error.args[0] == 0
    assert ERROR_LOCATION.sub("", error.args[1]) == NO_SUITE
    assert (error.library, error.reason) == (None, None)


def test_a_failure_keeps_the_suites_set_before(either, certs):
    client_ctx = client_context(either, certs)
    client_ctx.set_ciphersuites(CHACHA)
    with pytest.raises(either.SSLError):
        client_ctx.set_ciphersuites("NOT_A_SUITE")
    client, _server, _version = negotiated(client_ctx, server_context(either, certs))
    assert client[0] == CHACHA


def test_a_failure_leaves_the_error_queue_empty(certs):
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(pyssl.SSLError):
        ctx.set_ciphersuites("NOT_A_SUITE")
    assert pyssl._lib.lib.ERR_peek_error() == 0


@pytest.mark.parametrize(
    "value, error, message",
    [
        (
            b"TLS_AES_128_GCM_SHA256",
            TypeError,
            "set_ciphersuites() argument must be str, not bytes",
        ),
        (None, TypeError, "set_ciphersuites() argument must be str, not None"),
        ("TLS_AES_128_GCM_SHA256\0", ValueError, "embedded null character"),
    ],
    ids=["bytes", "None", "NUL"],
)
def test_the_argument_is_a_str_without_nul(either, value, error, message):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        ctx.set_ciphersuites(value)


def test_the_argument_is_positional_only(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError):
        ctx.set_ciphersuites(ciphersuites=AES128)


# ---- against the openssl programs -------------------------------------------------


@needs_openssl
def test_pyssl_client_with_s_server_offering_one_suite(openssl_server, certs):
    proc, port = openssl_server("-tls1_3", "-ciphersuites", AES256)
    ctx = client_context(pyssl, certs)
    ctx.set_ciphersuites(f"{CHACHA}:{AES256}")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.cipher() == (AES256, "TLSv1.3", 256)
            tls.sendall(b"over AES-256\n")
            proc.wait_for(b"over AES-256")


@needs_openssl
def test_pyssl_client_without_the_suite_of_s_server(openssl_server, certs):
    _proc, port = openssl_server("-tls1_3", "-ciphersuites", AES256)
    ctx = client_context(pyssl, certs)
    ctx.set_ciphersuites(CHACHA)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with pytest.raises(pyssl.SSLError) as info:
            ctx.wrap_socket(raw, server_hostname="localhost")
    assert info.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE"


@needs_openssl
def test_pyssl_server_chooses_among_s_client_s_suites(serve, openssl_client, certs):
    ctx = server_context(pyssl, certs)
    ctx.set_ciphersuites(AES128)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            suite = tls.cipher()[0]
            try:
                tls.recv(1)  # until s_client goes
            except OSError:
                pass
            return suite

    server = serve(handler)
    client = openssl_client(
        server.port, "-tls1_3", "-ciphersuites", f"{CHACHA}:{AES128}"
    )
    client.wait_for(b"hello")
    client.stop()
    assert server.join() == [AES128]
