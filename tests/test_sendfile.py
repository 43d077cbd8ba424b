"""SSLSocket.sendfile(), as Python 3.15 has it: with SSL_sendfile(), which
sends the file without copying it through user space, when the kernel
encrypts the connection's records (kTLS: the context has OP_ENABLE_KTLS,
the kernel has its TLS module, OpenSSL was built with kTLS and the cipher
is one the kernel knows); else with send(), as before. The connection
(``_sslobj``, the stdlib's ``_ssl._SSLSocket``) has the parts:
uses_ktls_for_send(), uses_ktls_for_recv() and sendfile().

A file SSL_sendfile() cannot take (no descriptor, not a regular file, a
first call that fails) goes by send() instead; a failure after some of
the file went out is raised. The zero-copy path is also driven here with
the connection's methods replaced, so that it runs where the kernel has
no kTLS; the test of real kTLS runs where it has."""

from __future__ import annotations

import io
import os
import socket
import sys

import pytest
from peers import TIMEOUT, client_context, recv_exactly, server_context

import pyssl
from pyssl._lib import lib
from pyssl._socket_connection import SocketConnection

DATA = bytes(range(256)) * 4099  # a little over 1 MiB, not a multiple of a record
# Options.OP_ENABLE_KTLS exists from Python 3.12, as in the stdlib; the bit
# is OpenSSL's.
OP_ENABLE_KTLS = lib.SSL_OP_ENABLE_KTLS


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    with open(path, "rb") as file:
        yield file


def reader(serve, module, certs, size, **settings):
    """A server thread that reads exactly ``size`` bytes and returns them."""
    ctx = server_context(module, certs, **settings)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            data = recv_exactly(tls, size)
            tls.sendall(b"!")
            return data

    return serve(handler)


def send_file(module, certs, server, send, ctx=None, **client_settings):
    """Connect a ``module`` client (with ``ctx``, or a client context with
    ``client_settings``) to ``server``, call ``send(tls)`` and return what
    it returned once the server has read everything."""
    if ctx is None:
        ctx = client_context(module, certs, **client_settings)
    with (
        server.connect() as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        result = send(tls)
        assert tls.recv(1) == b"!"
    return result


# ---- where the names live -----------------------------------------------------


def test_the_connection_has_the_kernel_tls_methods(certs):
    for name in ("uses_ktls_for_send", "uses_ktls_for_recv", "sendfile"):
        assert name in vars(pyssl._ssl._SSLSocket)
    assert "sendfile" in vars(pyssl.SSLSocket)


def test_memory_bios_never_use_kernel_tls(certs):
    ctx = client_context(pyssl, certs)
    ctx.options |= OP_ENABLE_KTLS
    obj = ctx.wrap_bio(
        pyssl.MemoryBIO(), pyssl.MemoryBIO(), server_hostname="localhost"
    )
    assert obj._sslobj.uses_ktls_for_send() is False
    assert obj._sslobj.uses_ktls_for_recv() is False


# ---- without kernel TLS: send() -----------------------------------------------------


def test_the_whole_file_by_send(serve, either, certs, data_file):
    server = reader(serve, either, certs, len(DATA))

    def send(tls):
        if hasattr(tls._sslobj, "uses_ktls_for_send"):  # the stdlib's since 3.15
            assert (
                tls._sslobj.uses_ktls_for_send() is False
            )  # OP_ENABLE_KTLS is not set
        return tls.sendfile(data_file)

    assert send_file(either, certs, server, send) == len(DATA)
    assert server.join() == [DATA]
    assert data_file.tell() == len(DATA)


@pytest.mark.parametrize(
    "offset, count", [(100, 1000), (70000, None), (0, len(DATA) + 10)]
)
def test_offset_and_count(serve, either, certs, data_file, offset, count):
    expected = DATA[offset : offset + count] if count else DATA[offset:]
    server = reader(serve, either, certs, len(expected))
    assert send_file(
        either, certs, server, lambda tls: tls.sendfile(data_file, offset, count)
    ) == len(expected)
    assert server.join() == [expected]
    assert data_file.tell() == offset + len(expected)


def test_ktls_asked_for(serve, certs, data_file):
    # Where the kernel has kTLS this goes by SSL_sendfile(), else by send().
    problem = kernel_tls_problem()
    server = reader(serve, pyssl, certs, len(DATA))
    ctx = client_context(pyssl, certs)
    ctx.options |= OP_ENABLE_KTLS

    def send(tls):
        if problem is not None:
            assert tls._sslobj.uses_ktls_for_send() is False
            assert tls._sslobj.uses_ktls_for_recv() is False
        return tls.sendfile(data_file)

    assert send_file(pyssl, certs, server, send, ctx) == len(DATA)
    assert server.join() == [DATA]


def test_the_connection_s_sendfile_needs_kernel_tls(serve, certs, data_file):
    server = reader(serve, pyssl, certs, 1)

    def send(tls):
        assert tls._sslobj.uses_ktls_for_send() is False  # OP_ENABLE_KTLS is not set
        # SSL_sendfile() refuses a connection the kernel does not encrypt.
        with pytest.raises(OSError):
            tls._sslobj.sendfile(data_file.fileno(), 0, 10)
        tls.sendall(b"x")

    send_file(pyssl, certs, server, send)
    server.join()


def test_an_unwrapped_socket_sends_in_clear(serve, either, certs, data_file):
    # Without a TLS layer, sendfile() is socket.socket's (os.sendfile()).
    ctx = server_context(either, certs)

    def handler(conn):
        with ctx.wrap_socket(conn, server_side=True) as tls:
            assert tls.recv(2) == b"go"
            plain = tls.unwrap()  # the same socket, without TLS
            return recv_exactly(plain, 1000)

    server = serve(handler)
    with (
        server.connect() as raw,
        client_context(either, certs).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls,
    ):
        tls.sendall(b"go")
        tls.unwrap()
        assert tls.sendfile(data_file, 0, 1000) == 1000
        [received] = server.join()
    assert received == DATA[:1000]


# ---- the zero-copy path, driven without kernel TLS ------------------------------------


@pytest.fixture
def zero_copy(monkeypatch):
    """Make connections report kernel TLS, and their sendfile() send with
    ``sendfile_by``, a function (connection, fd, offset, size) that the
    test sets (by default the real SSL_sendfile). Returns the list of
    (offset, size) calls."""
    calls = []
    state = {"sendfile_by": SocketConnection.sendfile}

    def sendfile(self, fd, offset, size, flags=0):
        calls.append((offset, size))
        return state["sendfile_by"](self, fd, offset, size)

    monkeypatch.setattr(SocketConnection, "uses_ktls_for_send", lambda self: True)
    monkeypatch.setattr(SocketConnection, "sendfile", sendfile)
    calls_and_state = calls, state
    return calls_and_state


def by_write(chunk):
    """A sendfile() that sends at most ``chunk`` bytes a call by reading
    the file and writing them, as the kernel would."""

    def sendfile(connection, fd, offset, size):
        data = os.pread(fd, min(size, chunk), offset)
        return connection.write(data) if data else 0

    return sendfile


def test_zero_copy_sends_block_by_block(serve, certs, data_file, zero_copy):
    calls, state = zero_copy
    state["sendfile_by"] = by_write(300000)
    server = reader(serve, pyssl, certs, len(DATA) - 5)
    assert (
        send_file(pyssl, certs, server, lambda tls: tls.sendfile(data_file, 5))
        == len(DATA) - 5
    )
    assert server.join() == [DATA[5:]]
    # Blocks of the file's size (at most 1 GiB) while no count is given.
    assert calls == [
        (5, len(DATA)),
        (300005, len(DATA)),
        (600005, len(DATA)),
        (900005, len(DATA)),
        (len(DATA), len(DATA)),
    ]
    assert data_file.tell() == len(DATA)


def test_zero_copy_stops_at_count(serve, certs, data_file, zero_copy):
    calls, state = zero_copy
    state["sendfile_by"] = by_write(4000)
    server = reader(serve, pyssl, certs, 10000)
    assert (
        send_file(pyssl, certs, server, lambda tls: tls.sendfile(data_file, 0, 10000))
        == 10000
    )
    assert server.join() == [DATA[:10000]]
    assert calls == [(0, 10000), (4000, 6000), (8000, 2000)]
    assert data_file.tell() == 10000


def test_a_first_failure_falls_back_to_send(serve, certs, data_file, zero_copy):
    # Without kernel TLS, the real SSL_sendfile() fails at once.
    calls, _state = zero_copy
    server = reader(serve, pyssl, certs, len(DATA))
    assert send_file(pyssl, certs, server, lambda tls: tls.sendfile(data_file)) == len(
        DATA
    )
    assert server.join() == [DATA]
    assert len(calls) == 1


def test_a_later_failure_is_raised(serve, certs, data_file, zero_copy):
    calls, state = zero_copy
    first = by_write(1000)

    def failing(connection, fd, offset, size):
        if calls[1:]:
            raise ConnectionResetError("gone")
        return first(connection, fd, offset, size)

    state["sendfile_by"] = failing
    server = reader(serve, pyssl, certs, 1000)

    def send(tls):
        with pytest.raises(ConnectionResetError):
            tls.sendfile(data_file)
        assert data_file.tell() == 1000  # after what was sent
        return len(calls)

    assert send_file(pyssl, certs, server, send) == 2
    assert server.join() == [DATA[:1000]]


def test_a_file_without_a_descriptor_goes_by_send(serve, certs, zero_copy):
    calls, _state = zero_copy
    server = reader(serve, pyssl, certs, 5000)
    file = io.BytesIO(DATA[:5000])
    assert send_file(pyssl, certs, server, lambda tls: tls.sendfile(file)) == 5000
    assert server.join() == [DATA[:5000]]
    assert calls == []


def test_an_empty_file_sends_nothing(serve, certs, tmp_path, zero_copy):
    calls, _state = zero_copy
    path = tmp_path / "empty"
    path.write_bytes(b"")
    server = reader(serve, pyssl, certs, 1)

    def send(tls):
        with open(path, "rb") as file:
            sent = tls.sendfile(file)
        tls.sendall(b"x")
        return sent

    assert send_file(pyssl, certs, server, send) == 0
    assert server.join() == [b"x"]
    assert calls == []


def test_a_non_blocking_socket_is_refused(serve, certs, data_file, zero_copy):
    server = reader(serve, pyssl, certs, 1)

    def send(tls):
        tls.setblocking(False)
        try:
            with pytest.raises(
                ValueError, match="non-blocking sockets are not supported"
            ):
                tls.sendfile(data_file)
        finally:
            tls.settimeout(TIMEOUT)
        tls.sendall(b"x")

    send_file(pyssl, certs, server, send)
    server.join()


def test_a_text_file_is_refused(serve, certs, tmp_path, zero_copy):
    path = tmp_path / "text"
    path.write_text("text")
    server = reader(serve, pyssl, certs, 1)

    def send(tls):
        with open(path) as file, pytest.raises(ValueError, match="binary mode"):
            tls.sendfile(file)
        tls.sendall(b"x")

    send_file(pyssl, certs, server, send)
    server.join()


# ---- real kernel TLS ---------------------------------------------------------------


TCP_ULP = getattr(socket, "TCP_ULP", 31)


def kernel_tls_problem() -> str | None:
    """Why the kernel cannot encrypt a connection here, or None: attaching
    the "tls" upper layer protocol to a connected TCP socket loads the
    kernel's TLS module, or fails without one."""
    if not sys.platform.startswith("linux"):
        return f"kTLS is tested on Linux only; this is {sys.platform}"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as sock:
            accepted, _ = listener.accept()
            with accepted:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
                except OSError as exc:
                    return f"this machine's kernel has no TLS module (kTLS): TCP_ULP 'tls': {exc.strerror}"
    return None


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_sendfile_with_kernel_tls(serve, certs, data_file, monkeypatch, version):
    problem = kernel_tls_problem()
    if problem is not None:
        pytest.skip(problem)
    if not lib.PYSSL_HAS_KTLS:
        pytest.skip(
            f"pyssl's {pyssl.OPENSSL_VERSION} was built without kTLS (no enable-ktls)"
        )
    calls = []
    real_sendfile = SocketConnection.sendfile

    def counting(self, fd, offset, size, flags=0):
        calls.append(size)
        return real_sendfile(self, fd, offset, size, flags)

    monkeypatch.setattr(SocketConnection, "sendfile", counting)
    tls_version = getattr(pyssl.TLSVersion, version)
    server = reader(serve, pyssl, certs, len(DATA), maximum_version=tls_version)

    def send(tls):
        assert tls.version() == version.replace("_", ".")
        assert tls._sslobj.uses_ktls_for_send() is True
        return tls.sendfile(data_file)

    ctx = client_context(pyssl, certs, maximum_version=tls_version)
    ctx.options |= OP_ENABLE_KTLS
    # AES-GCM: a cipher every kernel with kTLS encrypts.
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    ctx.set_ciphersuites("TLS_AES_128_GCM_SHA256")
    sent = send_file(pyssl, certs, server, send, ctx)
    assert sent == len(DATA)
    assert server.join() == [DATA]
    assert calls  # SSL_sendfile() sent it
    assert data_file.tell() == len(DATA)
