"""key_update(): a TLS 1.3 KeyUpdate message, which pyssl adds to the
stdlib's API. The end that sends it changes its sending keys; with
``request_peer`` the peer answers with a KeyUpdate of its own, sent with
its next write (OpenSSL's way), and changes its sending keys too. An end
that updates its keys while it owes such an answer sends one KeyUpdate,
which is both.

A key update that went wrong shows as data that no longer decrypts, so
every test sends data both ways afterwards; the protocol messages
themselves are watched with the message callback and with ``openssl
s_server -msg`` / ``s_client``'s own key update command."""

from __future__ import annotations

import socket

import pytest
from openssl_cli import needs_openssl
from peers import BioPair, client_context, server_context

import pyssl
from pyssl._connection import Connection


def key_updates(module, calls):
    """A message callback appending (direction, request byte) for each
    KeyUpdate message."""

    def callback(conn, direction, version, content_type, msg_type, data):
        if msg_type == module._TLSMessageType.KEY_UPDATE:
            calls.append((direction, data[4]))

    return callback


def watched_pair(certs, version="TLSv1_3"):
    """A BioPair whose ends record their KeyUpdate messages in
    ``pair.client_calls`` and ``pair.server_calls``."""
    client_ctx = client_context(
        pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version)
    )
    server_ctx = server_context(pyssl, certs)
    client_calls, server_calls = [], []
    client_ctx._msg_callback = key_updates(pyssl, client_calls)
    server_ctx._msg_callback = key_updates(pyssl, server_calls)
    tls = BioPair(client_ctx, server_ctx).handshake()
    tls.client_calls, tls.server_calls = client_calls, server_calls
    return tls


def converse_both_ways(tls, rounds=1):
    for i in range(rounds):
        assert tls.send(b"to server %d" % i) == b"to server %d" % i
        assert tls.send(b"to client %d" % i, to_server=False) == b"to client %d" % i


@pytest.mark.parametrize(
    "request_peer", [False, True], ids=["not requested", "requested"]
)
@pytest.mark.parametrize("side", ["client", "server"])
def test_data_flows_after_an_update(certs, side, request_peer):
    tls = watched_pair(certs)
    sender, peer_calls = (
        (tls.client, tls.server_calls)
        if side == "client"
        else (tls.server, tls.client_calls)
    )
    sender_calls = tls.client_calls if side == "client" else tls.server_calls
    assert sender.key_update(request_peer=request_peer) is None
    # Sent at once, not with the next write.
    assert sender_calls == [("write", int(request_peer))]
    # Two rounds: the peer reads the update in the first, and answers with
    # its next write.
    converse_both_ways(tls, rounds=2)
    # The peer read it and, when asked, answered with its own (which never
    # asks back).
    expected_peer = [("read", int(request_peer))] + (
        [("write", 0)] if request_peer else []
    )
    assert peer_calls == expected_peer
    assert sender_calls == [("write", int(request_peer))] + (
        [("read", 0)] if request_peer else []
    )


def test_many_updates_from_both_sides(certs):
    tls = watched_pair(certs)
    for i in range(20):
        (tls.client if i % 2 else tls.server).key_update(request_peer=i % 3 == 0)
        converse_both_ways(tls)
    converse_both_ways(tls)  # the last answer goes out
    # Every KeyUpdate one end wrote, the other read, in order.
    for writer, reader in (
        (tls.client_calls, tls.server_calls),
        (tls.server_calls, tls.client_calls),
    ):
        assert [r for d, r in writer if d == "write"] == [
            r for d, r in reader if d == "read"
        ]
    assert sum(1 for d, _ in tls.client_calls + tls.server_calls if d == "write") >= 20


def test_default_does_not_ask_the_peer(certs):
    tls = watched_pair(certs)
    tls.client.key_update()
    converse_both_ways(tls)
    assert tls.server_calls == [("read", 0)]


def test_over_sockets_with_pyssl(serve, certs):
    server_ctx = server_context(pyssl, certs)
    server_calls = []
    server_ctx._msg_callback = key_updates(pyssl, server_calls)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            for i in range(3):
                assert tls.recv(1024) == b"ping %d" % i
                tls.key_update(request_peer=True)
                tls.sendall(b"pong %d" % i)
            return tls.version()

    server = serve(handler)
    with (
        server.connect() as raw,
        client_context(pyssl, certs).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls,
    ):
        for i in range(3):
            tls.key_update()
            tls.sendall(b"ping %d" % i)
            assert tls.recv(1024) == b"pong %d" % i
    assert server.join() == ["TLSv1.3"]
    # Each round: the client's update read (from the second round on also
    # its answer to the server's request), the server's requesting one
    # written.
    assert server_calls == [("read", 0), ("write", 1)] * 3


# ---- against the openssl programs ------------------------------------------------


def key_update_lines(proc, marker):
    """The request bytes of the KeyUpdate messages an openssl program
    logged with -msg in direction ``marker`` (b"<<<" read, b">>>" written)."""
    lines = proc.transcript
    return [
        int(lines[i + 1].split()[4], 16)
        for i, line in enumerate(lines[:-1])
        if line.startswith(marker) and line.rstrip().endswith(b"KeyUpdate")
    ]


@needs_openssl
@pytest.mark.parametrize(
    "request_peer", [False, True], ids=["not requested", "requested"]
)
def test_pyssl_client_with_openssl_s_server(openssl_server, certs, request_peer):
    proc, port = openssl_server("-msg")
    ctx = client_context(pyssl, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.key_update(request_peer=request_peer)
            tls.sendall(b"after the update\n")
            proc.wait_for(b"after the update")
            proc.send(b"reply\n")  # preceded by s_server's answer, if asked
            assert tls.recv(1024) == b"reply\n"
            tls.sendall(b"done\n")  # everything s_server wrote is logged before this
            proc.wait_for(b"done")
    assert key_update_lines(proc, b"<<<") == [int(request_peer)]
    assert key_update_lines(proc, b">>>") == ([0] if request_peer else [])


@needs_openssl
@pytest.mark.parametrize("command, requested", [(b"k\n", 0), (b"K\n", 1)])
def test_pyssl_server_with_openssl_s_client(
    serve, certs, openssl_client, command, requested
):
    # s_client's "k" command sends a KeyUpdate, "K" one that asks for the
    # server's.
    server_ctx = server_context(pyssl, certs)
    calls = []
    server_ctx._msg_callback = key_updates(pyssl, calls)

    def handler(conn):
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"ready\n")
            assert tls.recv(1024) == b"after the update\n"
            tls.key_update()
            tls.sendall(b"reply\n")
            assert tls.recv(1024) == b""  # until s_client quits

    server = serve(handler)
    client = openssl_client(server.port)
    client.wait_for(b"ready")
    client.send(command)
    client.wait_for(b"KEYUPDATE")
    client.send(b"after the update\n")
    client.wait_for(b"reply")
    client.send(b"Q\n")
    server.join()
    # The server's own update is also the answer s_client asked for with "K".
    assert calls == [("read", requested), ("write", 0)]


# ---- only TLS 1.3, only after the handshake --------------------------------------


def test_tls_1_2_is_an_ssl_error(certs):
    tls = watched_pair(certs, "TLSv1_2")
    with pytest.raises(pyssl.SSLError) as info:
        tls.client.key_update()
    assert (info.value.library, info.value.reason) == ("SSL", "WRONG_SSL_VERSION")
    converse_both_ways(tls)  # the connection goes on
    assert tls.client_calls == tls.server_calls == []


def test_before_the_handshake_is_an_ssl_error(certs):
    tls = BioPair(client_context(pyssl, certs), server_context(pyssl, certs))
    for end in (tls.client, tls.server):
        with pytest.raises(pyssl.SSLError) as info:
            end.key_update()
        assert (info.value.library, info.value.reason) == ("SSL", "WRONG_SSL_VERSION")
    tls.handshake()
    converse_both_ways(tls)


def test_unconnected_socket_is_a_value_error(certs):
    with client_context(pyssl, certs).wrap_socket(
        socket.socket(), server_hostname="localhost"
    ) as tls:
        with pytest.raises(ValueError, match="^No SSL wrapper around "):
            tls.key_update()


def test_after_unwrap_is_a_value_error(serve, certs):
    def handler(conn):
        with server_context(pyssl, certs).wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(1) == b""
            tls.unwrap()

    server = serve(handler)
    client_ctx = client_context(pyssl, certs)
    # unwrap() hands back the SSLSocket itself, which owns the descriptor.
    with server.connect() as raw:
        with client_ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.unwrap()
            with pytest.raises(ValueError, match="^No SSL wrapper around "):
                tls.key_update()
    server.join()


# ---- what the handshake settled stays -------------------------------------------


def test_a_key_update_is_no_handshake_for_the_getters(certs, monkeypatch):
    # The getters keep what the handshake settled until a read or write
    # sees a handshake; a KeyUpdate, sent or received, is none.
    tls = watched_pair(certs)
    settled = [
        (end.version(), end.cipher(), end.getpeercert(True))
        for end in (tls.client, tls.server)
    ]
    dropped = []
    original = Connection._forget
    monkeypatch.setattr(
        Connection, "_forget", lambda self: (dropped.append(self), original(self))
    )
    tls.client.key_update(request_peer=True)
    tls.server.key_update(request_peer=True)
    converse_both_ways(tls, rounds=2)
    assert dropped == []
    assert [
        (end.version(), end.cipher(), end.getpeercert(True))
        for end in (tls.client, tls.server)
    ] == settled
