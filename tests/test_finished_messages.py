"""get_finished() and get_peer_finished(): the Finished messages of the
latest handshake (the verify_data that proves both ends saw the same
handshake), which pyssl adds to the stdlib's API.

What one end sent is what the other received, so the two ends are checked
against each other. The stdlib does not offer the messages, but its
"tls-unique" channel binding is one of them (RFC 5929: the first Finished
message of the handshake), which checks pyssl against the stdlib's code."""

from __future__ import annotations

import socket

import pytest
from peers import BioPair, client_context, converse, server_context

import pyssl

# verify_data: 12 bytes in TLS 1.2, the handshake hash's size in TLS 1.3.
VERSIONS = {"TLSv1_2": (12,), "TLSv1_3": (32, 48)}


def finished(tls):
    return tls.version(), tls.get_finished(), tls.get_peer_finished()


@pytest.mark.parametrize("version", VERSIONS)
def test_what_one_end_sent_the_other_received(serve, certs, version):
    server_ctx = server_context(pyssl, certs)
    client_ctx = client_context(
        pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version)
    )
    server, client = converse(serve, server_ctx, client_ctx, finished)
    assert server[0] == client[0] == version.replace("_", ".")
    assert client[1] == server[2] and server[1] == client[2]
    assert client[1] != server[1]
    for value in client[1:] + server[1:]:
        assert type(value) is bytes and len(value) in VERSIONS[version]


@pytest.mark.parametrize("version", VERSIONS)
def test_over_memory_bios(certs, version):
    client_ctx = client_context(
        pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version)
    )
    tls = BioPair(client_ctx, server_context(pyssl, certs)).handshake()
    assert tls.client.get_finished() == tls.server.get_peer_finished()
    assert tls.server.get_finished() == tls.client.get_peer_finished()
    assert len(tls.client.get_finished()) in VERSIONS[version]


def tls_unique_and_finished(tls):
    """tls-unique, and the Finished messages where the end offers them
    (pyssl; the stdlib's end gives None for those)."""
    if not hasattr(tls, "get_finished"):
        return tls.get_channel_binding("tls-unique"), None, None
    return (
        tls.get_channel_binding("tls-unique"),
        tls.get_finished(),
        tls.get_peer_finished(),
    )


def test_pyssl_client_sent_the_stdlib_servers_tls_unique(serve, certs, stdlib):
    # In a full TLS 1.2 handshake tls-unique is the client's Finished.
    server_ctx = server_context(
        stdlib, certs, maximum_version=stdlib.TLSVersion.TLSv1_2
    )
    client_ctx = client_context(pyssl, certs)
    (server_unique, *_), (_, client_sent, client_received) = converse(
        serve, server_ctx, client_ctx, tls_unique_and_finished
    )
    assert client_sent == server_unique
    assert client_received != server_unique and len(client_received) == 12


def test_pyssl_server_received_the_stdlib_clients_tls_unique(serve, certs, stdlib):
    server_ctx = server_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    client_ctx = client_context(stdlib, certs)
    (_, server_sent, server_received), (client_unique, *_) = converse(
        serve, server_ctx, client_ctx, tls_unique_and_finished
    )
    assert server_received == client_unique
    assert server_sent != client_unique and len(server_sent) == 12


def test_a_resumed_handshake_has_its_own(serve, certs):
    # An abbreviated TLS 1.2 handshake sends new Finished messages, the
    # server's first.
    server_ctx = server_context(pyssl, certs, maximum_version=pyssl.TLSVersion.TLSv1_2)
    client_ctx = client_context(pyssl, certs)
    first = BioPair(client_ctx, server_ctx).handshake()
    resumed = BioPair(client_ctx, server_ctx, session=first.client.session).handshake()
    assert resumed.client.session_reused is True
    assert resumed.client.get_finished() == resumed.server.get_peer_finished()
    assert resumed.server.get_finished() == resumed.client.get_peer_finished()
    assert resumed.client.get_finished() != first.client.get_finished()
    # tls-unique is the first Finished of the handshake: here the server's.
    assert (
        resumed.client.get_channel_binding("tls-unique")
        == resumed.server.get_finished()
    )


# ---- None without a handshake -----------------------------------------------------


def test_none_before_the_handshake(serve, certs):
    both = lambda tls: (tls.get_finished(), tls.get_peer_finished())  # noqa: E731
    (server_before, server_after), (client_before, client_after) = converse(
        serve,
        server_context(pyssl, certs),
        client_context(pyssl, certs),
        both,
        probe_before_handshake=True,
    )
    assert server_before == client_before == (None, None)
    assert server_after == client_after[::-1]
    assert None not in server_after


def test_none_before_the_handshake_over_memory_bios(certs):
    tls = BioPair(client_context(pyssl, certs), server_context(pyssl, certs))
    for end in (tls.client, tls.server):
        assert end.get_finished() is None and end.get_peer_finished() is None


def test_none_on_an_unconnected_socket(certs):
    with client_context(pyssl, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        assert tls.get_finished() is None
        assert tls.get_peer_finished() is None


def test_none_after_unwrap(serve, certs):
    def handler(conn):
        with server_context(pyssl, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b""
            tls.unwrap()
            return tls.get_finished(), tls.get_peer_finished()

    server = serve(handler)
    with server.connect() as raw:
        with client_context(pyssl, certs).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls:
            assert tls.get_finished() is not None
            tls.unwrap()
            assert (tls.get_finished(), tls.get_peer_finished()) == (None, None)
    assert server.join() == [(None, None)]
