"""An SSLSocket's life: wrapping, connect() and accept(), the handshake,
unwrap(), shutdown(), detach() and close(), and what each leaves behind."""

from __future__ import annotations

import errno
import os
import socket
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest
from peers import TIMEOUT, client_context, connect_tls, recv_exactly, server_context

import pyssl
import pyssl._socket_connection as pyssl_socket_connection


def echo_once(tls):
    tls.sendall(tls.recv(1024))


def echoed_connection(serve_tls, certs, module):
    """(server, tls): a ``module`` client of an echo_once server, with one
    byte echoed through it."""
    server = serve_tls(module, echo_once)
    tls = connect_tls(module, certs, server)
    tls.sendall(b"x")
    assert tls.recv(1) == b"x"
    return server, tls


@pytest.fixture
def refused_address():
    """A loopback address where nothing listens: the port is bound, so that
    nobody else takes it, but not listening."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()


@pytest.fixture
def in_thread():
    """in_thread(fn, *args) runs fn in a thread; .result() gives its return."""
    with ThreadPoolExecutor(2) as pool:
        yield pool.submit


# ---- wrapping ----------------------------------------------------------------------


def test_sslsocket_has_no_public_constructor(either):
    with pytest.raises(TypeError) as caught:
        either.SSLSocket()
    assert str(caught.value) == (
        "SSLSocket does not have a public constructor. "
        "Instances are returned by SSLContext.wrap_socket()."
    )


def test_wrap_socket_refuses_datagram_sockets(either):
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(
            NotImplementedError, match="only stream sockets are supported"
        ):
            ctx.wrap_socket(udp, server_hostname="localhost")
        # Refused before the socket was taken over.
        assert udp.fileno() != -1


def test_server_hostname_is_refused_server_side(either, certs):
    ctx = server_context(either, certs)
    with socket.socket() as sock:
        with pytest.raises(ValueError) as caught:
            ctx.wrap_socket(sock, server_side=True, server_hostname="localhost")
        assert (
            str(caught.value) == "server_hostname can only be specified in client mode"
        )
        assert sock.fileno() != -1


def test_a_server_context_refuses_a_client_socket(either, certs):
    ctx = server_context(either, certs)
    left, right = socket.socketpair()
    with left, right:
        with pytest.raises(
            either.SSLError,
            match="Cannot create a client socket with a PROTOCOL_TLS_SERVER context",
        ):
            ctx.wrap_socket(left, do_handshake_on_connect=False)
        # The socket was taken over, then closed.
        assert left.fileno() == -1


def test_check_hostname_requires_server_hostname(either, certs):
    ctx = client_context(either, certs)
    assert ctx.check_hostname
    with socket.socket() as sock:
        with pytest.raises(ValueError) as caught:
            ctx.wrap_socket(sock)
        assert str(caught.value) == "check_hostname requires server_hostname"


def test_wrapping_takes_over_the_descriptor(connected_pair, either, certs):
    raw, _ = connected_pair
    fd = raw.fileno()
    tls = client_context(either, certs).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    )
    with tls:
        assert tls.fileno() == fd
        assert raw.fileno() == -1
        assert tls.family == socket.AF_INET and tls.type == socket.SOCK_STREAM
        assert tls.gettimeout() == TIMEOUT
    assert tls.fileno() == -1


def test_handshake_deferred_until_do_handshake(serve_tls, certs, either, peer):
    server = serve_tls(peer, echo_once)
    with connect_tls(either, certs, server, do_handshake_on_connect=False) as tls:
        assert tls.do_handshake_on_connect is False
        assert tls.version() is None
        tls.do_handshake()
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"after")
        assert recv_exactly(tls, 5) == b"after"
    server.join()


def test_unconnected_socket_has_no_tls_yet(either, certs):
    ctx = client_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        assert tls.version() is None
        assert tls.cipher() is None
        assert tls.pending() == 0
        with pytest.raises(OSError) as caught:
            tls.do_handshake()
        assert caught.value.errno == errno.ENOTCONN
        with pytest.raises(ValueError, match="Read on closed or unwrapped SSL socket."):
            tls.read()


# ---- connect() ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["connect", "connect_ex"])
def test_connect_does_the_handshake(serve_tls, certs, either, peer, method):
    server = serve_tls(peer, echo_once)
    ctx = client_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        assert tls.version() is None
        assert getattr(tls, method)(server.address) == (
            0 if method == "connect_ex" else None
        )
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"over TLS")
        assert recv_exactly(tls, 8) == b"over TLS"
    server.join()


def test_connect_without_handshake_on_connect(serve_tls, certs, either):
    server = serve_tls(either, echo_once)
    ctx = client_context(either, certs)
    tls = ctx.wrap_socket(
        socket.socket(), server_hostname="localhost", do_handshake_on_connect=False
    )
    with tls:
        tls.connect(server.address)
        assert tls.version() is None
        tls.do_handshake()
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
    server.join()


def test_connect_to_a_refused_port_raises(either, certs, refused_address):
    ctx = client_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        with pytest.raises(ConnectionRefusedError):
            tls.connect(refused_address)
        assert tls.version() is None


def test_connect_ex_to_a_refused_port_returns_the_errno(either, certs, refused_address):
    ctx = client_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        assert tls.connect_ex(refused_address) == errno.ECONNREFUSED


def test_connecting_twice_is_refused(serve_tls, certs, either):
    server = serve_tls(either, echo_once)
    ctx = client_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        tls.connect(server.address)
        with pytest.raises(ValueError) as caught:
            tls.connect(server.address)
        assert str(caught.value) == "attempt to connect already-connected SSLSocket!"
        with pytest.raises(ValueError, match="already-connected"):
            tls.connect_ex(server.address)
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
    server.join()


def test_connect_on_a_socket_wrapped_connected_is_refused(serve_tls, certs, either):
    server = serve_tls(either, echo_once)
    with connect_tls(either, certs, server) as tls:
        with pytest.raises(
            ValueError, match="attempt to connect already-connected SSLSocket!"
        ):
            tls.connect(server.address)
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
    server.join()


def test_connect_on_the_server_side_is_refused(either, certs, refused_address):
    ctx = server_context(either, certs)
    with ctx.wrap_socket(socket.socket(), server_side=True) as tls:
        with pytest.raises(ValueError) as caught:
            tls.connect(refused_address)
        assert str(caught.value) == "can't connect in server-side mode"


# ---- accept() ----------------------------------------------------------------------


def client_exchange(module, certs, address, payload=b"hello"):
    """Connect with ``module``, send ``payload``, return the answer."""
    with socket.create_connection(address, timeout=TIMEOUT) as raw:
        ctx = client_context(module, certs)
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(payload)
            return recv_exactly(tls, len(payload))


def test_accept_returns_a_server_side_sslsocket(certs, either, peer, in_thread):
    ctx = server_context(either, certs)
    with ctx.wrap_socket(
        socket.create_server(("127.0.0.1", 0)), server_side=True
    ) as listener:
        listener.settimeout(TIMEOUT)
        assert listener.version() is None
        client = in_thread(client_exchange, peer, certs, listener.getsockname())
        conn, address = listener.accept()
        with conn:
            assert isinstance(conn, either.SSLSocket)
            assert conn.server_side is True
            assert conn.context is ctx
            assert address == conn.getpeername()
            # do_handshake_on_connect was inherited: the handshake is done.
            assert conn.do_handshake_on_connect is True
            assert conn.suppress_ragged_eofs is True
            assert conn.version() == "TLSv1.3"
            echo_once(conn)
        assert client.result(TIMEOUT) == b"hello"


def test_accept_inherits_the_listeners_settings(certs, either, in_thread):
    ctx = server_context(either, certs)
    listener = ctx.wrap_socket(
        socket.create_server(("127.0.0.1", 0)),
        server_side=True,
        do_handshake_on_connect=False,
        suppress_ragged_eofs=False,
    )
    with listener:
        listener.settimeout(TIMEOUT)
        client = in_thread(client_exchange, either, certs, listener.getsockname())
        conn, _ = listener.accept()
        with conn:
            assert conn.do_handshake_on_connect is False
            assert conn.suppress_ragged_eofs is False
            assert conn.version() is None
            conn.do_handshake()
            assert conn.version() == "TLSv1.3"
            echo_once(conn)
        assert client.result(TIMEOUT) == b"hello"


# ---- unwrap() ----------------------------------------------------------------------


def test_unwrap_goes_on_in_clear_text(serve_tls, certs, either, peer):
    def handler(tls):
        assert tls.recv(10) == b""  # the client's close_notify
        plain = tls.unwrap()
        data = recv_exactly(plain, 5)
        plain.sendall(data.upper())
        return data

    server = serve_tls(peer, handler)
    with connect_tls(either, certs, server) as tls:
        plain = tls.unwrap()
        # The stdlib returns the socket itself, now without TLS.
        assert plain is tls
        assert tls.version() is None and tls.cipher() is None
        plain.sendall(b"clear")
        assert recv_exactly(plain, 5) == b"CLEAR"
    assert server.join() == [b"clear"]


def test_operations_after_unwrap(serve_tls, certs, either):
    def handler(tls):
        assert tls.recv(10) == b""
        tls.unwrap()

    server = serve_tls(either, handler)
    with connect_tls(either, certs, server) as tls:
        tls.unwrap()
        with pytest.raises(ValueError) as caught:
            tls.read()
        assert str(caught.value) == "Read on closed or unwrapped SSL socket."
        with pytest.raises(ValueError) as caught:
            tls.write(b"x")
        assert str(caught.value) == "Write on closed or unwrapped SSL socket."
        with pytest.raises(ValueError) as caught:
            tls.unwrap()
        assert str(caught.value) == f"No SSL wrapper around {tls}"
        assert tls.pending() == 0
    server.join()


# ---- shutdown(), detach(), dup(), close() ------------------------------------------------


def test_shutdown_drops_the_tls_layer(serve_tls, certs, either):
    def handler(tls):
        echo_once(tls)
        tls.sendall(b"secret")
        # A ragged EOF: the client shut down TCP without close_notify.
        return tls.recv(10)

    server = serve_tls(either, handler)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"ping")
        assert recv_exactly(tls, 4) == b"ping"
        tls.shutdown(socket.SHUT_WR)
        assert tls.version() is None and tls.cipher() is None
        with pytest.raises(ValueError, match="Read on closed or unwrapped SSL socket."):
            tls.read()
        # recv() is the plain socket's now: the next record arrives
        # encrypted, as TLS 1.3 application data.
        header = recv_exactly(tls, 5)
        assert header[:3] == b"\x17\x03\x03"
        assert tls.fileno() != -1
        # The server reads its EOF while this end is still open: OpenSSL
        # 3.2 and later also try to send an alert about it, which a closed
        # socket would refuse (the stdlib before CPython gh-127257 then
        # raises SSLError("[SYS] unknown error") instead of reading b"").
        assert server.join() == [b""]


def test_detach_hands_over_the_descriptor(serve_tls, certs, either):
    server, tls = echoed_connection(serve_tls, certs, either)
    address = tls.getpeername()
    fd = tls.fileno()
    assert tls.detach() == fd
    assert tls.fileno() == -1
    with socket.socket(fileno=fd) as plain:
        assert plain.getpeername() == address
    tls.close()
    server.join()


def test_dup_is_not_implemented(connected_pair, either, certs):
    raw, _ = connected_pair
    tls = client_context(either, certs).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    )
    with tls:
        with pytest.raises(NotImplementedError) as caught:
            tls.dup()
        assert str(caught.value) == "Can't dup() SSLSocket instances"


def test_context_manager_closes_the_socket(serve_tls, certs, either):
    server = serve_tls(either, echo_once)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
        assert tls.fileno() >= 0
    assert tls.fileno() == -1
    assert "[closed]" in repr(tls)
    server.join()


def test_operations_after_close(serve_tls, certs, either):
    server, tls = echoed_connection(serve_tls, certs, either)
    tls.close()
    tls.close()  # closing twice is harmless
    assert tls.fileno() == -1
    # Without a TLS layer, the socket methods are the plain socket's.
    for operation in (
        lambda: tls.recv(1),
        lambda: tls.recv_into(bytearray(1)),
        lambda: tls.send(b"x"),
        lambda: tls.sendall(b"x"),
        lambda: tls.getpeername(),
    ):
        with pytest.raises(OSError) as caught:
            operation()
        assert caught.value.errno == errno.EBADF
    with pytest.raises(ValueError, match="Read on closed or unwrapped SSL socket."):
        tls.read()
    with pytest.raises(ValueError, match="Write on closed or unwrapped SSL socket."):
        tls.write(b"x")
    with pytest.raises(ValueError, match="No SSL wrapper around"):
        tls.unwrap()
    assert tls.version() is None
    assert tls.cipher() is None
    assert tls.compression() is None
    assert tls.selected_alpn_protocol() is None
    assert tls.pending() == 0
    server.join()


def test_close_frees_the_tls_layer_and_closes_the_descriptor(serve_tls, certs, either):
    server, tls = echoed_connection(serve_tls, certs, either)
    server.join()
    fd = tls.fileno()
    # pyssl's TLS layer goes with close(), not later (the stdlib's, a C
    # object, takes no weak references).
    layer = weakref.ref(tls._sslobj) if either.__name__ == "pyssl" else None
    tls.close()
    assert layer is None or layer() is None
    assert tls.fileno() == -1
    # Nothing else runs now: the descriptor number cannot have been reused.
    with pytest.raises(OSError) as caught:
        os.fstat(fd)
    assert caught.value.errno == errno.EBADF


def test_close_frees_an_unshared_layer_with_the_descriptor_in_one_call(
    serve_tls, certs, monkeypatch
):
    """Nothing else holds the layer: SSL_free and the descriptor's close are
    one C call (one GIL release, as in the stdlib). Held elsewhere, the layer
    is left to its holder and only the descriptor is closed."""
    freed_with = []
    free_and_close = pyssl_socket_connection.SocketConnection.free_and_close

    def spy(connection, fd):
        if not connection.server_side:  # the server's are its own business
            freed_with.append(fd)
        free_and_close(connection, fd)

    monkeypatch.setattr(pyssl_socket_connection.SocketConnection, "free_and_close", spy)
    for held_elsewhere in (False, True):
        # No TLS 1.3 session tickets: left unread, they would make the
        # client's close a reset, which the server's read would raise.
        server = serve_tls(pyssl, echo_once, num_tickets=0)
        tls = connect_tls(pyssl, certs, server)
        fd = tls.fileno()
        holder = tls._sslobj if held_elsewhere else None
        tls.close()
        assert freed_with == ([] if held_elsewhere else [fd])
        if held_elsewhere:
            assert holder.version() == "TLSv1.3"  # still whole
        freed_with.clear()
        del holder
        server.join()


def test_close_after_calls_of_every_kind_still_frees_the_layer_in_one_call(
    serve_tls, certs, monkeypatch
):
    """Calls on the socket leave no reference to its TLS layer behind: after
    reads and writes of each kind (straight through, after a wait, into a
    buffer, of a memoryview), a timeout raised and gone, and the getters,
    close() still frees the SSL* with the descriptor in one C call. It
    fails should a call keep the layer alive, or should CPython count the
    references of close()'s own frame otherwise than close() measured when
    pyssl was imported (SSLSocket._real_close)."""
    freed_with = []
    free_and_close = pyssl_socket_connection.SocketConnection.free_and_close

    def spy(connection, fd):
        if not connection.server_side:
            freed_with.append(fd)
        free_and_close(connection, fd)

    def echo_late(tls):
        while data := tls.recv(1024):
            time.sleep(0.05)  # the client's read waits for it
            tls.sendall(data)

    monkeypatch.setattr(pyssl_socket_connection.SocketConnection, "free_and_close", spy)
    server = serve_tls(pyssl, echo_late, num_tickets=0)
    tls = connect_tls(pyssl, certs, server)
    fd = tls.fileno()
    tls.sendall(b"ab")
    assert recv_exactly(tls, 2) == b"ab"
    tls.sendall(memoryview(b"cd"))
    buffer = bytearray(2)
    assert tls.recv_into(buffer) == 2
    tls.sendall(b"e")
    assert tls.recv_into(memoryview(buffer)[1:]) == 1
    assert buffer == b"ce"
    tls.settimeout(0.01)
    try:
        tls.recv(1)
    except TimeoutError:
        pass
    else:
        pytest.fail("nothing to read, yet recv() returned")
    assert tls.getpeercert()["subjectAltName"]
    assert tls.version() and tls.cipher() and tls.pending() == 0
    assert tls.get_channel_binding() is not None
    tls.close()
    assert freed_with == [fd]
    server.join()


def test_close_reports_a_descriptor_closed_behind_its_back(
    connected_pair, certs, either
):
    raw, _ = connected_pair
    tls = client_context(either, certs).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    )
    # Nothing else runs now: the descriptor number cannot be reused before
    # close() closes it again.
    os.close(tls.fileno())
    with pytest.raises(OSError) as caught:
        tls.close()
    assert caught.value.errno == errno.EBADF
    assert tls.fileno() == -1
    tls.close()  # closed now: harmless
