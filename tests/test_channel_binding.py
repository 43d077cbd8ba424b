"""SSLSocket.get_channel_binding(): RFC 5929 "tls-unique", the first
Finished message of the handshake. Both ends of a connection must compute
the same bytes, which is what makes it a channel binding; pyssl paired
with the stdlib proves that pyssl computes what the stdlib does."""

from __future__ import annotations

import socket

import pytest
from peers import client_context, converse, server_context

import pyssl

# The Finished message: 12 bytes in TLS 1.2, the handshake hash's size
# (32 or 48 bytes) in TLS 1.3.
VERSIONS = {"TLSv1_2": (12,), "TLSv1_3": (32, 48)}


def binding(tls):
    return (
        tls.version(),
        tls.get_channel_binding("tls-unique"),
        tls.get_channel_binding(),
    )


def check_ends(ends, maximum):
    (
        (server_version, server_cb, server_default),
        (client_version, client_cb, client_default),
    ) = ends
    assert server_version == client_version == maximum.replace("_", ".")
    assert type(server_cb) is bytes
    assert server_cb == client_cb
    assert len(server_cb) in VERSIONS[maximum]
    # "tls-unique" is the default type.
    assert server_default == server_cb and client_default == client_cb
    return server_cb


@pytest.mark.parametrize("maximum", VERSIONS)
def test_pyssl_client_and_server_agree(serve, certs, peer, maximum):
    server_ctx = server_context(peer, certs)
    client_ctx = client_context(
        pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, maximum)
    )
    check_ends(converse(serve, server_ctx, client_ctx, binding), maximum)


@pytest.mark.parametrize("maximum", VERSIONS)
def test_pyssl_server_and_client_agree(serve, certs, peer, maximum):
    server_ctx = server_context(
        pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, maximum)
    )
    client_ctx = client_context(peer, certs)
    check_ends(converse(serve, server_ctx, client_ctx, binding), maximum)


def test_every_connection_has_its_own(serve, certs):
    server_ctx, client_ctx = server_context(pyssl, certs), client_context(pyssl, certs)
    first = check_ends(converse(serve, server_ctx, client_ctx, binding), "TLSv1_3")
    second = check_ends(converse(serve, server_ctx, client_ctx, binding), "TLSv1_3")
    assert first != second


def test_resumed_tls_1_2_session(serve, certs, peer):
    # In an abbreviated handshake the server's Finished message comes
    # first; both ends must report that one.
    server_ctx = server_context(peer, certs, maximum_version=peer.TLSVersion.TLSv1_2)
    client_ctx = client_context(pyssl, certs)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b"?"
            tls.sendall(b"!")
            return tls.session_reused, tls.get_channel_binding()

    def connect(session):
        server = serve(handler)
        with server.connect() as raw:
            with client_ctx.wrap_socket(
                raw, server_hostname="localhost", session=session
            ) as tls:
                tls.sendall(b"?")
                assert tls.recv(1) == b"!"
                client_end = tls.session_reused, tls.get_channel_binding()
                session = tls.session
        assert server.join() == [client_end]
        return client_end, session

    (reused, first_cb), session = connect(None)
    assert reused is False
    (reused, second_cb), _ = connect(session)
    assert reused is True
    assert len(second_cb) == 12
    assert second_cb != first_cb


# ---- None when there is no handshake ------------------------------------------------


def test_none_before_the_handshake(serve, certs, either):
    server_ctx, client_ctx = (
        server_context(either, certs),
        client_context(either, certs),
    )
    (server_before, server_after), (client_before, client_after) = converse(
        serve,
        server_ctx,
        client_ctx,
        lambda tls: tls.get_channel_binding(),
        probe_before_handshake=True,
    )
    assert server_before is None and client_before is None
    assert server_after == client_after is not None


def test_none_on_an_unconnected_socket(certs, either):
    with client_context(either, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        assert tls.get_channel_binding("tls-unique") is None


def test_none_after_unwrap(serve, certs, either):
    def handler(conn):
        with server_context(either, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b""
            tls.unwrap()
            return tls.get_channel_binding()

    server = serve(handler)
    with server.connect() as raw:
        with client_context(either, certs).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls:
            assert tls.get_channel_binding() is not None
            tls.unwrap()
            assert tls.get_channel_binding() is None
    assert server.join() == [None]


# ---- the stdlib knows only "tls-unique" ----------------------------------------------


def test_channel_binding_types(either):
    assert either.CHANNEL_BINDING_TYPES == ["tls-unique"]


# pyssl also knows "tls-exporter" (RFC 9266), by name only: see
# test_keying_material.py.
UNKNOWN = ["tls-server-end-point", "TLS-EXPORTER", "TLS-UNIQUE", ""]


@pytest.mark.parametrize("cb_type", UNKNOWN)
def test_unknown_type_on_a_connection_is_a_value_error(serve, certs, either, cb_type):
    def probe(tls):
        with pytest.raises(ValueError) as info:
            tls.get_channel_binding(cb_type)
        return str(info.value)

    messages = converse(
        serve, server_context(either, certs), client_context(either, certs), probe
    )
    assert messages == (f"'{cb_type}' channel binding type not implemented",) * 2


@pytest.mark.parametrize("cb_type", UNKNOWN)
def test_unknown_type_before_connecting_is_a_value_error(certs, either, cb_type):
    with client_context(either, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        with pytest.raises(ValueError) as info:
            tls.get_channel_binding(cb_type)
    assert str(info.value) == f"{cb_type} channel binding type not implemented"


@pytest.mark.parametrize("cb_type", [None, b"tls-unique", 1])
def test_non_str_type_on_a_connection_is_a_type_error(serve, certs, either, cb_type):
    def probe(tls):
        with pytest.raises(TypeError) as info:
            tls.get_channel_binding(cb_type)
        return str(info.value)

    messages = converse(
        serve, server_context(either, certs), client_context(either, certs), probe
    )
    type_name = "None" if cb_type is None else type(cb_type).__name__
    expected = f"get_channel_binding() argument 'cb_type' must be str, not {type_name}"
    assert messages == (expected, expected)
