"""SSLSocket as a socket: reading and writing, the buffers it accepts, the
socket methods it refuses, file objects, sendfile() and end of stream."""

from __future__ import annotations

import array
import hashlib
import random
import socket
import threading
import time

import pytest
from peers import TIMEOUT, client_context, connect_tls, recv_exactly, server_context
from ssl_modules import module_named

import pyssl


def echo(tls):
    """Send back everything received, until the client closes."""
    while True:
        try:
            data = tls.recv(65536)
        except OSError as exc:
            # A client that closes with TLS 1.3 session tickets still
            # unread makes its kernel reset the connection. OpenSSL 3.2
            # and later may also fail to send the alert about the EOF, which
            # the stdlib before CPython gh-127257 reports as
            # SSLError("[SYS] unknown error").
            if (
                isinstance(exc, ConnectionError)
                or getattr(exc, "library", None) == "SYS"
            ):
                return
            raise
        if not data:
            return
        tls.sendall(data)


def receive_all(tls):
    """Everything received until the client's close_notify, which is
    answered with this side's."""
    received = bytearray()
    while True:
        data = tls.recv(65536)
        if not data:
            tls.unwrap()
            return bytes(received)
        received += data


def digest_of_all(tls):
    return hashlib.sha256(receive_all(tls)).hexdigest()


def class_of(module):
    return f"<class '{module.__name__}.SSLSocket'>"


# The ssl modules at the two ends of a connection: (server, client).
SIDES = [("pyssl", "pyssl"), ("pyssl", "stdlib"), ("stdlib", "pyssl")]


@pytest.fixture(params=SIDES, ids=[f"{s}-server-{c}-client" for s, c in SIDES])
def sides(request):
    server, client = request.param
    return module_named(server), module_named(client)


# ---- read/write, send/recv ------------------------------------------------------


def test_write_returns_count_and_read_returns_bytes(serve_tls, certs, either):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        assert tls.write(b"hello") == 5
        assert tls.read(5) == b"hello"
        assert tls.write(b"abc") == 3
        buffer = bytearray(10)
        assert tls.read(10, buffer) == 3
        assert buffer == b"abc" + bytes(7)
    server.join()


def test_send_returns_count_and_recv_returns_bytes(serve_tls, certs, either):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        assert tls.send(b"ping") == 4
        assert recv_exactly(tls, 4) == b"ping"
        assert tls.sendall(b"pong") is None
        assert recv_exactly(tls, 4) == b"pong"
    server.join()


def test_read_length_limits_the_bytes_returned(serve_tls, certs, either):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"0123456789")
        assert tls.read(4) == b"0123"
        assert tls.pending() == 6
        assert tls.recv(100) == b"456789"
    server.join()


SEND_PAYLOADS = {
    "bytes": lambda: b"payload!",
    "bytearray": lambda: bytearray(b"payload!"),
    "memoryview": lambda: memoryview(b"xxpayload!xx")[2:-2],
    "array": lambda: array.array("I", [1, 2, 3, 0xFFFFFFFF]),
    "2-d memoryview": lambda: memoryview(bytearray(b"payload!")).cast("B", (2, 4)),
}


@pytest.mark.parametrize("method", ["send", "sendall", "write"])
@pytest.mark.parametrize("kind", SEND_PAYLOADS)
def test_sending_accepts_bytes_like_objects(serve_tls, certs, either, method, kind):
    payload = SEND_PAYLOADS[kind]()
    expected = memoryview(payload).tobytes()
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        sent = getattr(tls, method)(payload)
        assert sent == (None if method == "sendall" else len(expected))
        assert recv_exactly(tls, len(expected)) == expected
    server.join()


RECV_BUFFERS = {
    "bytearray": lambda size: bytearray(size),
    "memoryview": lambda size: memoryview(bytearray(size)),
    "array of bytes": lambda size: array.array("B", bytes(size)),
    "array of ints": lambda size: array.array("i", bytes(size)),
}


@pytest.mark.parametrize("kind", RECV_BUFFERS)
def test_recv_into_fills_writable_buffers(serve_tls, certs, either, kind):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"ABCDEFGH")
        buffer = RECV_BUFFERS[kind](8)
        count = 0
        while count < 8:
            with memoryview(buffer) as view, view.cast("B") as rest:
                count += tls.recv_into(rest[count:])
        assert memoryview(buffer).tobytes() == b"ABCDEFGH"
    server.join()


@pytest.mark.parametrize("kind", RECV_BUFFERS)
def test_recv_into_reads_at_most_nbytes(serve_tls, certs, either, kind):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"ABCDEFGH")
        buffer = RECV_BUFFERS[kind](8)
        assert tls.recv_into(buffer, 4) == 4
        assert memoryview(buffer).tobytes() == b"ABCD" + bytes(4)
        assert tls.read(4, buffer) == 4
        assert memoryview(buffer).tobytes() == b"EFGH" + bytes(4)
    server.join()


def test_recv_into_nbytes_beyond_the_buffer_is_clamped(serve_tls, certs, either):
    # Unlike socket.recv_into(), the TLS read stops at the buffer's end.
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"ABCDEFGH")
        buffer = bytearray(3)
        assert tls.recv_into(buffer, 100) == 3
        assert buffer == b"ABC"
        assert recv_exactly(tls, 5) == b"DEFGH"
    server.join()


def test_recv_into_nbytes_zero_means_the_whole_buffer(serve_tls, certs, either):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        tls.sendall(b"ABCD")
        buffer = bytearray(4)
        count = tls.recv_into(buffer, 0)
        assert buffer[:count] == b"ABCD"[:count] and count > 0
    server.join()


@pytest.mark.parametrize("size", [2**63, -(2**63) - 1])
def test_a_read_size_beyond_ssize_t_is_an_overflow_error(
    serve_tls, certs, either, size
):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        with pytest.raises(OverflowError):
            tls.read(size, bytearray(4))
        with pytest.raises(OverflowError):
            tls.read(size)
        tls.sendall(b"still usable")
        assert recv_exactly(tls, 12) == b"still usable"
    server.join()


@pytest.mark.parametrize("timeout", [None, TIMEOUT], ids=["blocking", "timeout"])
def test_a_buffer_being_read_into_cannot_be_resized(serve_tls, certs, either, timeout):
    # OpenSSL writes into the caller's buffer without the GIL: the read
    # holds the buffer, as the stdlib's does, so that another thread cannot
    # move or free its memory meanwhile: inside OpenSSL on a blocking
    # socket, and while waiting for the socket on one with a timeout.
    go = threading.Event()

    def serve(tls):
        go.wait(TIMEOUT)
        tls.sendall(b"late")

    server = serve_tls(either, serve)
    buffer = bytearray(8)
    with connect_tls(either, certs, server, timeout=timeout) as tls:
        got = []
        reader = threading.Thread(target=lambda: got.append(tls.recv_into(buffer)))
        reader.start()
        refused = False
        deadline = time.monotonic() + TIMEOUT
        while not refused and time.monotonic() < deadline:
            try:
                buffer.append(0)  # before the reader holds it
            except BufferError:
                refused = True
            else:
                del buffer[-1]
                time.sleep(0.001)
        go.set()
        reader.join(TIMEOUT)
        assert refused
        assert got == [4] and buffer == b"late" + bytes(4)
    server.join()


def test_zero_length_operations(serve_tls, certs, either):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        assert tls.recv(0) == b""
        assert tls.read(0) == b""
        assert tls.recv_into(bytearray()) == 0
        assert tls.send(b"") == 0
        assert tls.write(b"") == 0
        assert tls.sendall(b"") is None
        # The connection still works afterwards.
        tls.sendall(b"x")
        assert tls.recv(1) == b"x"
    server.join()


def test_sendall_of_nothing_writes_nothing_even_after_the_peer_closed(
    serve_tls, certs, either
):
    """sendall(b"") makes no SSL_write: after the peer's EOF an empty
    SSL_write fails (BAD_LENGTH), and sendall() of nothing must not."""
    outcome = []

    def reply_to_eof(tls):
        outcome.append(tls.recv(1024))
        outcome.append(tls.sendall(b""))

    # No TLS 1.3 session tickets: left unread, they would make the client's
    # close a reset rather than an end of stream.
    server = serve_tls(either, reply_to_eof, num_tickets=0)
    connect_tls(either, certs, server).close()
    server.join()
    assert outcome == [b"", None]


def test_negative_read_length_is_refused(serve_tls, certs, either):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        with pytest.raises(ValueError, match="size should not be negative"):
            tls.read(-1)
        with pytest.raises(ValueError, match="size should not be negative"):
            tls.recv(-1)
    server.join()


@pytest.mark.parametrize(
    "method, args",
    [
        ("send", (b"x",)),
        ("sendall", (b"x",)),
        ("recv", (1,)),
        ("recv_into", (bytearray(1), 1)),
    ],
)
def test_nonzero_flags_are_refused(serve_tls, certs, either, method, args):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        message = (
            f"non-zero flags not allowed in calls to {method}() on {class_of(either)}"
        )
        with pytest.raises(ValueError) as caught:
            getattr(tls, method)(*args, socket.MSG_PEEK)
        assert str(caught.value) == message
    server.join()


@pytest.mark.parametrize(
    "method, args",
    [
        ("recvfrom", (1,)),
        ("recvfrom_into", (bytearray(1),)),
        ("sendto", (b"x", ("127.0.0.1", 9))),
        ("sendto", (b"x", 0, ("127.0.0.1", 9))),
    ],
)
def test_datagram_methods_are_refused_while_wrapped(
    serve_tls, certs, either, method, args
):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        with pytest.raises(ValueError) as caught:
            getattr(tls, method)(*args)
        assert (
            str(caught.value)
            == f"{method} not allowed on instances of {class_of(either)}"
        )
        # Nothing went out in clear text: the TLS stream is intact.
        tls.sendall(b"still TLS")
        assert recv_exactly(tls, 9) == b"still TLS"
    server.join()


@pytest.mark.parametrize(
    "method, args",
    [
        ("recvmsg", (1,)),
        ("recvmsg_into", ([bytearray(1)],)),
        ("sendmsg", ([b"x"],)),
    ],
)
def test_message_methods_are_not_implemented(serve_tls, certs, either, method, args):
    server = serve_tls(either, echo)
    with connect_tls(either, certs, server) as tls:
        with pytest.raises(NotImplementedError) as caught:
            getattr(tls, method)(*args)
        assert (
            str(caught.value)
            == f"{method} not allowed on instances of {class_of(either)}"
        )
    server.join()


def test_sendmsg_is_refused_even_without_tls(either):
    # Before connect() there is no TLS layer, yet sendmsg() must still not
    # let clear text out.
    ctx = either.SSLContext(either.PROTOCOL_TLS_CLIENT)
    with ctx.wrap_socket(socket.socket(), server_hostname="localhost") as tls:
        with pytest.raises(NotImplementedError):
            tls.sendmsg([b"x"])


# ---- large transfers -------------------------------------------------------------

UPLOAD = 8 << 20
DOWNLOAD = 6 << 20


def pattern(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def test_large_transfers_both_ways(serve_tls, certs, sides):
    server_module, client_module = sides
    upload, download = pattern(UPLOAD, 1), pattern(DOWNLOAD, 2)

    def handler(tls):
        digest = hashlib.sha256(recv_exactly(tls, UPLOAD)).hexdigest()
        tls.sendall(download)
        return digest

    server = serve_tls(server_module, handler)
    with connect_tls(client_module, certs, server) as tls:
        tls.sendall(upload)
        received = hashlib.sha256()
        buffer = memoryview(bytearray(1 << 20))
        total = 0
        while total < DOWNLOAD:
            count = tls.recv_into(buffer)
            assert count > 0
            received.update(buffer[:count])
            total += count
    assert server.join() == [hashlib.sha256(upload).hexdigest()]
    assert total == DOWNLOAD
    assert received.hexdigest() == hashlib.sha256(download).hexdigest()


def test_one_large_write_goes_out_whole(serve_tls, certs, sides):
    # write() is all-or-nothing over a blocking socket: it returns only
    # when every byte has been sent.
    server_module, client_module = sides
    payload = pattern(UPLOAD, 3)
    server = serve_tls(server_module, digest_of_all)
    with connect_tls(client_module, certs, server) as tls:
        assert tls.write(payload) == UPLOAD
        tls.unwrap()
    assert server.join() == [hashlib.sha256(payload).hexdigest()]


# ---- file objects ----------------------------------------------------------------


def line_upper_server(tls):
    """Answer each line with it in capitals, through a buffered file."""
    with tls.makefile("rwb") as f:
        for line in f:
            f.write(line.upper())
            f.flush()
            if line == b"quit\n":
                break


def test_makefile_reads_and_writes_lines_both_ways(serve_tls, certs, sides):
    server_module, client_module = sides
    server = serve_tls(server_module, line_upper_server)
    with connect_tls(client_module, certs, server) as tls:
        with tls.makefile("wb") as out, tls.makefile("rb") as back:
            for line in (b"first line\n", b"second\n", b"quit\n"):
                out.write(line)
                out.flush()
                assert back.readline() == line.upper()
    server.join()


def test_makefile_text_mode(serve_tls, certs, either):
    server = serve_tls(either, line_upper_server)
    with connect_tls(either, certs, server) as tls:
        with tls.makefile("rw", encoding="utf-8", newline="\n") as f:
            f.write("hello ✓\nquit\n")
            f.flush()
            assert f.readline() == "HELLO ✓\n"
            assert f.readline() == "QUIT\n"
    server.join()


def test_makefile_read_until_close_notify(serve_tls, certs, either):
    def handler(tls):
        tls.sendall(b"a\nb\nno newline at the end")
        tls.unwrap()

    server = serve_tls(either, handler)
    with connect_tls(either, certs, server) as tls:
        with tls.makefile("rb") as f:
            assert f.readlines() == [b"a\n", b"b\n", b"no newline at the end"]
            assert f.read() == b""
        tls.unwrap()
    server.join()


def test_socket_stays_open_while_a_file_uses_it(serve_tls, certs, either):
    server = serve_tls(either, echo)
    tls = connect_tls(either, certs, server)
    f = tls.makefile("rwb")
    tls.close()
    assert tls.fileno() != -1
    f.write(b"still here\n")
    f.flush()
    assert f.readline() == b"still here\n"
    f.close()
    assert tls.fileno() == -1
    server.join()


# ---- sendfile ---------------------------------------------------------------------


@pytest.fixture
def data_file(tmp_path):
    content = pattern(3 << 20, 4)
    path = tmp_path / "data.bin"
    path.write_bytes(content)
    return path, content


def test_sendfile_sends_a_whole_file_over_tls(serve_tls, certs, sides, data_file):
    server_module, client_module = sides
    path, content = data_file
    server = serve_tls(server_module, digest_of_all)
    with connect_tls(client_module, certs, server) as tls, open(path, "rb") as f:
        assert tls.sendfile(f) == len(content)
        tls.unwrap()
    assert server.join() == [hashlib.sha256(content).hexdigest()]


def test_sendfile_with_offset_and_count(serve_tls, certs, either, data_file):
    path, content = data_file
    server = serve_tls(either, receive_all)
    with connect_tls(either, certs, server) as tls, open(path, "rb") as f:
        assert tls.sendfile(f, offset=1000, count=70000) == 70000
        # As socket.sendfile() documents: the file position follows.
        assert f.tell() == 71000
        tls.unwrap()
    assert server.join() == [content[1000:71000]]


# ---- end of stream -----------------------------------------------------------------


@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
def test_close_notify_reads_as_end_of_stream(
    serve_tls, certs, either, peer, suppress_ragged_eofs
):
    def handler(tls):
        tls.sendall(b"bye")
        # unwrap() sends close_notify, then waits for the client's.
        tls.unwrap()

    server = serve_tls(peer, handler)
    with connect_tls(
        either, certs, server, suppress_ragged_eofs=suppress_ragged_eofs
    ) as tls:
        assert recv_exactly(tls, 3) == b"bye"
        assert tls.recv(10) == b""
        assert tls.read(10) == b""
        assert tls.recv_into(bytearray(10)) == 0
        tls.unwrap()
    server.join()


def close_without_close_notify(tls):
    tls.sendall(b"bye")
    # Closing the SSLSocket closes the TCP connection without close_notify.
    tls.close()


def test_ragged_eof_is_suppressed_by_default(serve_tls, certs, either, peer):
    server = serve_tls(peer, close_without_close_notify)
    with connect_tls(either, certs, server) as tls:
        assert tls.suppress_ragged_eofs is True
        assert recv_exactly(tls, 3) == b"bye"
        assert tls.recv(10) == b""
        assert tls.read(10, bytearray(10)) == 0
    server.join()


@pytest.mark.parametrize("method", ["recv", "read", "recv_into"])
def test_ragged_eof_raises_without_suppression(serve_tls, certs, either, peer, method):
    server = serve_tls(peer, close_without_close_notify)
    with connect_tls(either, certs, server, suppress_ragged_eofs=False) as tls:
        assert recv_exactly(tls, 3) == b"bye"
        with pytest.raises(either.SSLEOFError) as caught:
            if method == "recv_into":
                tls.recv_into(bytearray(10))
            else:
                getattr(tls, method)(10)
    error = caught.value
    assert error.args[0] == either.SSL_ERROR_EOF == 8
    assert error.library == "SSL"
    assert error.reason == "UNEXPECTED_EOF_WHILE_READING"
    assert str(error).startswith(
        "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol"
    )
    server.join()


# The openssl program as the peer: s_client sends close_notify when its
# input ends; a killed s_client or s_server leaves the kernel to close the
# TCP connection, without close_notify.


def pyssl_server_reading_to_the_end(certs, suppress_ragged_eofs):
    def handler(conn):
        ctx = server_context(pyssl, certs)
        with ctx.wrap_socket(
            conn, server_side=True, suppress_ragged_eofs=suppress_ragged_eofs
        ) as tls:
            assert recv_exactly(tls, 6) == b"hello\n"
            # Once s_client prints this, it has read everything sent before
            # (the session tickets too): closing it then sends no RST.
            tls.sendall(b"ready\n")
            try:
                return tls.recv(10)
            except pyssl.SSLError as exc:
                return exc

    return handler


def test_close_notify_from_openssl_s_client(serve, certs, openssl_client):
    server = serve(pyssl_server_reading_to_the_end(certs, False))
    client = openssl_client(server.port, "-quiet", "-no_ign_eof")
    client.send(b"hello\n")
    client.wait_for(b"ready")
    client.proc.stdin.close()
    assert server.join() == [b""]


@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
def test_openssl_s_client_killed_is_a_ragged_eof(
    serve, certs, openssl_client, suppress_ragged_eofs
):
    server = serve(pyssl_server_reading_to_the_end(certs, suppress_ragged_eofs))
    client = openssl_client(server.port, "-quiet")
    client.send(b"hello\n")
    client.wait_for(b"ready")
    client.stop()
    [result] = server.join()
    if suppress_ragged_eofs:
        assert result == b""
    else:
        assert isinstance(result, pyssl.SSLEOFError)
        assert result.reason == "UNEXPECTED_EOF_WHILE_READING"


@pytest.mark.parametrize("suppress_ragged_eofs", [True, False])
def test_openssl_s_server_killed_is_a_ragged_eof(
    certs, openssl_server, suppress_ragged_eofs
):
    proc, port = openssl_server()
    ctx = client_context(pyssl, certs)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(
            raw, server_hostname="localhost", suppress_ragged_eofs=suppress_ragged_eofs
        ) as tls:
            proc.send(b"from s_server\n")
            assert recv_exactly(tls, 14) == b"from s_server\n"
            proc.stop()
            if suppress_ragged_eofs:
                assert tls.recv(10) == b""
            else:
                with pytest.raises(pyssl.SSLEOFError):
                    tls.recv(10)
