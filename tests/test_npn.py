"""SSLSocket.selected_npn_protocol(): NPN (Next Protocol Negotiation), the
TLS 1.2 forerunner of ALPN.

pyssl negotiates NPN for real wherever its OpenSSL has it (HAS_NPN); the
stdlib here does not (its HAS_NPN is false, selected_npn_protocol() always
returns None and set_npn_protocols() cannot be used), so these tests run
pyssl alone, against pyssl and the openssl programs. The stdlib appears
only as a peer that does not speak NPN. NPN does not exist in TLS 1.3, so
every negotiation that should succeed is pinned to TLS 1.2.
"""

from __future__ import annotations

import socket
import warnings

import pytest
from openssl_cli import needs_openssl
from peers import client_context, converse, server_context
from ssl_modules import module_named

import pyssl

pytestmark = [
    pytest.mark.skipif(not pyssl.HAS_NPN, reason="this OpenSSL is built without NPN"),
    # Every NPN call warns; the tests that count the warnings catch them.
    pytest.mark.filterwarnings("ignore:ssl NPN is deprecated:DeprecationWarning"),
]


def npn_context(make, module, certs, protocols, maximum="TLSv1_2"):
    ctx = make(module, certs)
    if protocols is not None:
        ctx.set_npn_protocols(protocols)
    if maximum is not None:
        ctx.maximum_version = getattr(module.TLSVersion, maximum)
    return ctx


def selected(tls):
    return tls.selected_npn_protocol()


def version_and_npn(tls):
    return tls.version(), tls.selected_npn_protocol()


def test_has_npn():
    assert pyssl.HAS_NPN is True


# (server's list, client's list, what both ends must report)
NEGOTIATIONS = {
    # The client picks the first of the server's protocols it supports.
    "server order": (["h2", "http/1.1"], ["http/1.1", "h2"], "h2"),
    "the one common protocol": (["spdy/3", "http/1.1"], ["h2", "http/1.1"], "http/1.1"),
    # Without overlap NPN still settles: on the client's first protocol.
    "no common protocol": (["spdy/2"], ["http/1.1", "h2"], "http/1.1"),
    "client did not ask": (["h2", "http/1.1"], None, None),
    "server offers nothing": (None, ["h2", "http/1.1"], None),
    "neither side": (None, None, None),
    # An empty list offers nothing: NPN is left out, the handshake goes on.
    "client's list empty": (["h2", "http/1.1"], [], None),
    "server's list empty": ([], ["h2", "http/1.1"], None),
}


@pytest.mark.parametrize("case", NEGOTIATIONS)
def test_pyssl_with_pyssl(serve, certs, case):
    server_protocols, client_protocols, expected = NEGOTIATIONS[case]
    server_ctx = npn_context(server_context, pyssl, certs, server_protocols)
    client_ctx = npn_context(client_context, pyssl, certs, client_protocols)
    assert converse(serve, server_ctx, client_ctx, selected) == (expected, expected)


def test_none_over_tls_1_3(serve, certs):
    server_ctx = npn_context(server_context, pyssl, certs, ["h2"], maximum=None)
    client_ctx = npn_context(client_context, pyssl, certs, ["h2"], maximum=None)
    assert converse(serve, server_ctx, client_ctx, version_and_npn) == (
        ("TLSv1.3", None),
        ("TLSv1.3", None),
    )


def test_none_when_the_stdlib_client_does_not_speak_npn(serve, certs):
    stdlib = module_named("stdlib")
    server_ctx = npn_context(server_context, pyssl, certs, ["h2"])
    client_ctx = client_context(
        stdlib, certs, maximum_version=stdlib.TLSVersion.TLSv1_2
    )
    assert converse(serve, server_ctx, client_ctx, version_and_npn) == (
        ("TLSv1.2", None),
        ("TLSv1.2", None),
    )


def test_none_when_the_stdlib_server_does_not_speak_npn(serve, certs):
    stdlib = module_named("stdlib")
    server_ctx = server_context(
        stdlib, certs, maximum_version=stdlib.TLSVersion.TLSv1_2
    )
    client_ctx = npn_context(client_context, pyssl, certs, ["h2"])
    assert converse(serve, server_ctx, client_ctx, version_and_npn) == (
        ("TLSv1.2", None),
        ("TLSv1.2", None),
    )


def test_none_before_the_handshake(serve, certs):
    server_ctx = npn_context(server_context, pyssl, certs, ["h2"])
    client_ctx = npn_context(client_context, pyssl, certs, ["h2"])
    ends = converse(
        serve, server_ctx, client_ctx, selected, probe_before_handshake=True
    )
    assert ends == ((None, "h2"), (None, "h2"))


# ---- the openssl programs ---------------------------------------------------


@needs_openssl
@pytest.mark.parametrize(
    "server_args, client_protocols, expected",
    [
        (["-nextprotoneg", "h2,spdy"], ["spdy", "h2"], "h2"),
        (["-nextprotoneg", "h2,spdy"], ["spdy"], "spdy"),
        (["-nextprotoneg", "h2"], ["http/1.1"], "http/1.1"),
        ([], ["h2"], None),  # s_server without -nextprotoneg
        (["-nextprotoneg", "h2"], None, None),
    ],
    ids=[
        "server order",
        "common protocol",
        "no overlap",
        "server without NPN",
        "client without NPN",
    ],
)
def test_pyssl_client_with_openssl_s_server(
    openssl_server, certs, server_args, client_protocols, expected
):
    proc, port = openssl_server("-tls1_2", *server_args)
    ctx = npn_context(client_context, pyssl, certs, client_protocols)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1.2"
            assert tls.selected_npn_protocol() == expected
            tls.sendall(b"done\n")
            proc.wait_for(b"done")
    told = [
        line.strip() for line in proc.transcript if line.startswith(b"NEXTPROTO is")
    ]
    assert told == ([] if expected is None else [f"NEXTPROTO is {expected}".encode()])


@needs_openssl
@pytest.mark.parametrize(
    "server_protocols, client_args, expected, status",
    [
        (["h2", "spdy"], ["-nextprotoneg", "spdy,h2"], "h2", 1),
        (["spdy"], ["-nextprotoneg", "http/1.1"], "http/1.1", 2),
        (["h2"], [], None, None),  # s_client without -nextprotoneg
        (None, ["-nextprotoneg", "h2"], None, None),
    ],
    ids=["server order", "no overlap", "client without NPN", "server without NPN"],
)
def test_pyssl_server_with_openssl_s_client(
    serve, certs, openssl_client, server_protocols, client_args, expected, status
):
    ctx = npn_context(server_context, pyssl, certs, server_protocols)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello\n")
            return tls.selected_npn_protocol()

    server = serve(handler)
    client = openssl_client(server.port, "-tls1_2", *client_args)
    client.wait_for(b"hello")
    assert server.join() == [expected]
    # s_client reports its choice ("(1)": negotiated, "(2)": no overlap).
    told = [
        line.strip() for line in client.transcript if line.startswith(b"Next protocol:")
    ]
    assert told == (
        [] if expected is None else [f"Next protocol: ({status}) {expected}".encode()]
    )


# ---- deprecation --------------------------------------------------------------


def handshake_then_read_one_byte(server_ctx):
    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            return tls.recv(1)

    return handler


def test_every_call_warns(serve, certs):
    server_ctx = npn_context(server_context, pyssl, certs, ["h2"])
    client_ctx = client_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client_ctx.set_npn_protocols(["h2"])
        client_ctx.set_npn_protocols(["h2", "http/1.1"])
        server = serve(handshake_then_read_one_byte(server_ctx))
        with (
            server.connect() as raw,
            client_ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert [tls.selected_npn_protocol() for _ in range(3)] == ["h2"] * 3
            tls.sendall(b"x")
        server.join()
    # The server thread's own set_npn_protocols() came before the catch.
    assert len(caught) == 5
    for warning in caught:
        assert warning.category is DeprecationWarning
        assert str(warning.message) == "ssl NPN is deprecated, use ALPN instead"
        assert warning.filename == __file__  # blamed on the caller


def test_set_npn_protocols_warns_even_when_it_fails():
    ctx = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    with pytest.warns(
        DeprecationWarning, match="ssl NPN is deprecated, use ALPN instead"
    ):
        with pytest.raises(pyssl.SSLError) as info:
            ctx.set_npn_protocols([""])
    assert info.value.args == ("NPN protocols must be 1 to 255 in length",)


def test_selected_npn_protocol_warns_before_the_handshake(certs):
    ctx = client_context(pyssl, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        with pytest.warns(
            DeprecationWarning, match="ssl NPN is deprecated, use ALPN instead"
        ):
            assert tls.selected_npn_protocol() is None
