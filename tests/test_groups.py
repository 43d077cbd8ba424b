"""The key agreement groups (Python 3.15): SSLContext.set_groups() and
get_groups(), and group() on SSLSocket, SSLObject and their ``_sslobj``.

group() is the IANA name of the group the handshake's key exchange used,
None before the handshake and when the key exchange used none (TLS 1.2
with RSA key transport). The stdlib needs OpenSSL 3.2 for it; pyssl asks
OpenSSL 3.0 and 3.1 for the group's NID and its name, the same answer.
get_groups() needs OpenSSL 3.5, which alone can list the groups it
implements: NotImplementedError before, as in the stdlib. OpenSSL 3.5's
default list puts the post-quantum hybrid X25519MLKEM768 first, so two
pyssl peers agree on it there, and on x25519 with OpenSSL 3.0.

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


def groups_module(name):
    return module_offering(name, "SSLSocket", "group", "group API (new in 3.15)")


@pytest.fixture(params=["pyssl", "stdlib"])
def either(request):
    """pyssl or the stdlib, where the stdlib has the group API."""
    return groups_module(request.param)


def default_group(module):
    """The group two peers of ``module`` agree on with OpenSSL's defaults."""
    # OpenSSL 3.5 offers the hybrid ML-KEM group first, with a key share.
    return "X25519MLKEM768" if openssl_at_least(module, 3, 5) else "x25519"


def bio_pair(module, certs, client_groups=None, server_groups=None, **client_settings):
    client_ctx = client_context(module, certs, **client_settings)
    server_ctx = server_context(module, certs)
    if client_groups is not None:
        client_ctx.set_groups(client_groups)
    if server_groups is not None:
        server_ctx.set_groups(server_groups)
    return BioPair(client_ctx, server_ctx)


def groups_of(pair):
    """group() of both ends, through SSLObject and through _sslobj."""
    return {
        (pair.client.group(), pair.server.group()),
        (pair.client._sslobj.group(), pair.server._sslobj.group()),
    }


# ---- where the names live -----------------------------------------------------


def test_each_name_is_on_the_stdlib_s_layer():
    for name in ("set_groups", "get_groups"):
        assert name in vars(pyssl._ssl._SSLContext)
        assert name not in vars(pyssl.SSLContext)
    assert "group" in vars(pyssl.SSLSocket)
    assert "group" in vars(pyssl.SSLObject)
    assert hasattr(pyssl._ssl._SSLSocket, "group")


# ---- group() ------------------------------------------------------------------------


def test_default_group_between_two_peers(either, certs):
    pair = bio_pair(either, certs)
    assert (pair.client.group(), pair.server.group()) == (None, None)
    pair.handshake()
    assert groups_of(pair) == {(default_group(either),) * 2}


@pytest.mark.skipif(
    not openssl_at_least(pyssl, 3, 5),
    reason="X25519MLKEM768 is OpenSSL 3.5's default group; this is "
    + pyssl.OPENSSL_VERSION,
)
def test_openssl_3_5_peers_agree_on_the_post_quantum_hybrid(serve, certs):
    def probe(tls):
        return tls.group(), tls.version()

    client_ctx, server_ctx = client_context(pyssl, certs), server_context(pyssl, certs)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
            return probe(tls)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"?")
        assert tls.recv(1) == b"!"
        client = probe(tls)
    assert server.join() == [client] == [("X25519MLKEM768", "TLSv1.3")]


@pytest.mark.parametrize(
    "client_groups, server_groups, expected",
    [
        ("P-384", None, "secp384r1"),
        # The group of the client's key share, which both accept.
        ("X448:P-256", "P-256:X448", "x448"),
        (None, "P-521", "secp521r1"),
        ("ffdhe2048", None, "ffdhe2048"),
        ("secp256r1:x25519", "x25519", "x25519"),
    ],
    ids=["client-one", "key-share", "server-one", "ffdhe", "common"],
)
def test_the_group_the_lists_leave(
    either, certs, client_groups, server_groups, expected
):
    pair = bio_pair(either, certs, client_groups, server_groups).handshake()
    assert groups_of(pair) == {(expected, expected)}


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_group_over_sockets(handshake, either, rsa_certs, version):
    # An RSA certificate: a TLS 1.2 server signs with an ECDSA key only on a
    # curve the client lists.
    client_ctx = client_context(
        either, rsa_certs, maximum_version=getattr(either.TLSVersion, version)
    )
    client_ctx.set_groups("P-384")
    client, server = handshake(
        server_context(either, rsa_certs),
        client_ctx,
        on_client=lambda tls: (tls.group(), tls._sslobj.group()),
        on_server=lambda tls: (tls.group(), tls._sslobj.group()),
    )
    assert client == server == ("secp384r1", "secp384r1")


def test_none_before_the_handshake_on_a_socket(serve, either, certs):
    def handler(conn):
        with server_context(either, certs).wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        ) as tls:
            before = tls.group(), tls._sslobj.group()
            tls.do_handshake()
            return before, tls.group()

    server = serve(handler)
    with (
        server.connect() as raw,
        client_context(either, certs).wrap_socket(
            raw, server_hostname="localhost", do_handshake_on_connect=False
        ) as tls,
    ):
        assert (tls.group(), tls._sslobj.group()) == (None, None)
        tls.do_handshake()
        after = tls.group()
    [(server_before, server_after)] = server.join()
    assert server_before == (None, None)
    assert server_after == after == default_group(either)


def test_none_on_a_socket_without_tls(either, certs):
    with socket.socket() as sock:
        tls = client_context(either, certs).wrap_socket(
            sock, server_hostname="localhost"
        )
        with tls:
            assert tls._sslobj is None  # not connected: no TLS layer yet
            assert tls.group() is None


def test_none_after_an_rsa_key_transport(either, rsa_certs):
    client_ctx = client_context(
        either, rsa_certs, maximum_version=either.TLSVersion.TLSv1_2
    )
    server_ctx = server_context(either, rsa_certs)
    for ctx in (client_ctx, server_ctx):
        ctx.set_ciphers(
            "AES128-GCM-SHA256"
        )  # no (EC)DHE: the client encrypts the secret
    pair = BioPair(client_ctx, server_ctx).handshake()
    assert pair.client.cipher()[0] == "AES128-GCM-SHA256"
    assert groups_of(pair) == {(None, None)}


def test_a_resumed_tls_1_3_session_reports_its_key_exchange(either, certs):
    client_ctx, server_ctx = (
        client_context(either, certs),
        server_context(either, certs),
    )
    client_ctx.set_groups("P-256")
    first = BioPair(client_ctx, server_ctx).handshake()
    first.send(b"x")  # the client reads the session ticket with this
    first.send(b"x", to_server=False)
    second = BioPair(client_ctx, server_ctx, session=first.client.session).handshake()
    assert second.client.session_reused
    # psk_dhe_ke: a resumption still agrees on a key.
    assert groups_of(second) == {("secp256r1", "secp256r1")}


# ---- set_groups() -------------------------------------------------------------------


def test_set_groups_returns_none(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    assert ctx.set_groups("P-256:X25519") is None


@pytest.mark.parametrize(
    "groups",
    ["P-256:xxx", "xxx", ":", "ECDHE-RSA-AES128-GCM-SHA256", "secp256r1:secp2"],
)
def test_an_unknown_group_is_an_sslerror(either, groups):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(either.SSLError) as info:
        ctx.set_groups(groups)
    error = info.value
    # The stdlib's own words: OpenSSL queues no reason for every such list.
    assert error.args[0] == 0
    assert ERROR_LOCATION.sub("", error.args[1]) == "unrecognized group"
    assert (error.library, error.reason) == (None, None)


def test_an_empty_list(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    if openssl_at_least(either, 3, 5):
        # OpenSSL 3.5's list syntax takes an empty list (no group at all).
        assert ctx.set_groups("") is None
    else:
        with pytest.raises(either.SSLError, match="^unrecognized group"):
            ctx.set_groups("")


@pytest.mark.skipif(
    not openssl_at_least(pyssl, 3, 5),
    reason="OpenSSL 3.5 added '?' for groups to ignore when unknown; this is "
    + pyssl.OPENSSL_VERSION,
)
def test_openssl_3_5_skips_unknown_groups_marked_so(certs):
    pair = bio_pair(pyssl, certs, client_groups="?no-such-group:P-384").handshake()
    assert groups_of(pair) == {("secp384r1", "secp384r1")}


def test_a_failure_keeps_the_groups_set_before(either, certs):
    client_ctx = client_context(either, certs)
    client_ctx.set_groups("P-384")
    with pytest.raises(either.SSLError):
        client_ctx.set_groups("P-256:xxx")
    pair = BioPair(client_ctx, server_context(either, certs)).handshake()
    assert groups_of(pair) == {("secp384r1", "secp384r1")}
    assert pyssl._lib.lib.ERR_peek_error() == 0


def test_no_common_group_fails_the_handshake(either, certs):
    with pytest.raises(either.SSLError) as info:
        bio_pair(
            either, certs, client_groups="P-384", server_groups="P-521"
        ).handshake()
    assert info.value.reason in ("NO_SUITABLE_KEY_SHARE", "NO_SHARED_GROUPS")


@pytest.mark.parametrize(
    "value, error, message",
    [
        (b"P-256", TypeError, "set_groups() argument must be str, not bytes"),
        (None, TypeError, "set_groups() argument must be str, not None"),
        ("P-256\0", ValueError, "embedded null character"),
    ],
    ids=["bytes", "None", "NUL"],
)
def test_the_argument_is_a_str_without_nul(either, value, error, message):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        ctx.set_groups(value)
    with pytest.raises(TypeError):
        ctx.set_groups(grouplist="P-256")


# ---- get_groups() --------------------------------------------------------------------


def test_get_groups_takes_include_aliases_by_keyword_only(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with pytest.raises(TypeError):
        ctx.get_groups(True)


@pytest.mark.skipif(
    openssl_at_least(pyssl, 3, 5),
    reason="OpenSSL 3.5 lists the groups it implements; this is "
    + pyssl.OPENSSL_VERSION,
)
@pytest.mark.parametrize("aliases", [False, True])
def test_get_groups_needs_openssl_3_5(aliases):
    # Before 3.5 OpenSSL has no call that lists the groups it implements.
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(NotImplementedError, match="OpenSSL 3.5"):
        ctx.get_groups(include_aliases=aliases)


needs_openssl_3_5 = pytest.mark.skipif(
    not openssl_at_least(pyssl, 3, 5),
    reason="get_groups() needs OpenSSL 3.5; this is " + pyssl.OPENSSL_VERSION,
)


@needs_openssl_3_5
def test_get_groups_lists_iana_names(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    groups = ctx.get_groups()
    assert all(type(name) is str and name for name in groups)
    assert len(set(groups)) == len(groups)
    assert {"secp256r1", "x25519", "ffdhe2048", "X25519MLKEM768"} <= set(groups)
    assert "P-256" not in groups  # an alias


@needs_openssl_3_5
def test_aliases_add_names(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    plain, with_aliases = ctx.get_groups(), ctx.get_groups(include_aliases=True)
    assert set(plain) < set(with_aliases)
    assert {"P-256", "P-384", "P-521"} <= set(with_aliases) - set(plain)
    assert ctx.get_groups(include_aliases=0) == plain
    assert ctx.get_groups(include_aliases="yes") == with_aliases


@needs_openssl_3_5
def test_the_versions_decide_what_is_listed(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    ctx.maximum_version = either.TLSVersion.TLSv1_2
    tls12 = set(ctx.get_groups())
    ctx.maximum_version = either.TLSVersion.TLSv1_3
    ctx.minimum_version = either.TLSVersion.TLSv1_3
    tls13 = set(ctx.get_groups())
    # ML-KEM exists in TLS 1.3 only; the binary curves in TLS 1.2 only.
    assert "X25519MLKEM768" in tls13 - tls12
    assert "sect571r1" in tls12 - tls13
    assert {"secp256r1", "x25519"} <= tls12 & tls13


@needs_openssl_3_5
def test_every_listed_name_can_be_set(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    for name in ctx.get_groups(include_aliases=True):
        assert ctx.set_groups(name) is None


@needs_openssl_3_5
def test_the_negotiated_group_is_listed(certs):
    pair = bio_pair(pyssl, certs).handshake()
    assert pair.client.group() in pair.client.context.get_groups()


# ---- against the openssl programs -----------------------------------------------------


@needs_openssl
@pytest.mark.parametrize("option", ["-groups", "-curves"])
def test_pyssl_client_with_s_server_s_group(openssl_server, certs, option):
    proc, port = openssl_server(option, "P-384")
    ctx = client_context(pyssl, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert (tls.group(), tls._sslobj.group()) == ("secp384r1", "secp384r1")
            tls.sendall(b"over P-384\n")
            proc.wait_for(b"over P-384")


@needs_openssl
@pytest.mark.parametrize(
    "version, flag", [("TLSv1.2", "-tls1_2"), ("TLSv1.3", "-tls1_3")]
)
def test_pyssl_server_with_s_client_s_group(
    serve, openssl_client, rsa_certs, version, flag
):
    # An RSA certificate: with TLS 1.2 an ECDSA one needs its curve in the
    # client's list. (s_client trusts another CA, reports it and goes on.)
    ctx = server_context(pyssl, rsa_certs)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            result = tls.version(), tls.group()
            try:
                tls.recv(1)  # until s_client goes
            except OSError:
                pass
            return result

    server = serve(handler)
    client = openssl_client(server.port, flag, "-groups", "X448")
    client.wait_for(b"hello")
    client.stop()
    assert server.join() == [(version, "x448")]
