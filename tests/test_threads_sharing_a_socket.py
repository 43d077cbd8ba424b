"""One SSLSocket used by two threads at once: a reader and a writer, the
way full-duplex protocols use a connection. Every byte written arrives,
once and in order, and neither thread sees an error; the stdlib passes the
same tests."""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading

import pytest
from peers import TIMEOUT, client_context, recv_exactly

import pyssl

# Enough records for the two threads to be inside OpenSSL at the same
# time again and again.
TOTAL = 8 << 20
CHUNK = 64 << 10
PATTERN = bytes(range(256)) * (CHUNK // 256)


def echo(tls):
    """Send back everything received, until the client closes (cleanly or
    not: the tests check the client's side)."""
    try:
        while data := tls.recv(CHUNK):
            tls.sendall(data)
    except OSError:
        pass


def run_in_threads(*functions):
    """Run each function in its own thread; the exceptions they raised."""
    errors: list[BaseException] = []

    def guarded(function):
        try:
            function()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 4)
        assert not thread.is_alive(), "a thread is still blocked"
    return errors


def connect(server, certs, module, version, timeout):
    """A client connected to the echo ``server``, past the TLS 1.3 session
    tickets: OpenSSL cannot take a write while another thread's read is
    handling a post-handshake message (the stdlib then fails the same way,
    or crashes), so the tickets are read before the threads start."""
    ctx = client_context(module, certs, maximum_version=getattr(module.TLSVersion, version))
    tls = ctx.wrap_socket(server.connect(timeout=timeout), server_hostname="localhost")
    tls.sendall(b"!")
    assert tls.recv(1) == b"!"
    return tls


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_reader_and_writer_threads_lose_nothing(serve_tls, certs, either, version):
    server = serve_tls(either, echo)
    with connect(server, certs, either, version, timeout=None) as tls:
        assert tls.version() == version.replace("_", ".")
        received = bytearray()

        def write():
            for _ in range(TOTAL // CHUNK):
                tls.sendall(PATTERN)

        def read():
            while len(received) < TOTAL:
                data = tls.recv(CHUNK)
                assert data, f"EOF after {len(received)} bytes"
                received.extend(data)

        assert run_in_threads(write, read) == []
        assert received == PATTERN * (TOTAL // CHUNK)
    server.join()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_reader_and_writer_threads_wait_for_the_socket_together(serve_tls, certs, either, version):
    """With a timeout, each thread polls the descriptor while OpenSSL cannot
    go on. A server that stops reading and sends nothing keeps both
    waiting at once, the writer on a full send buffer and the reader for a
    record, until the writer times out, and the reader too, unless its
    read failed on the socket's EAGAIN: OpenSSL keeps one want-read/
    want-write state per connection, which a write in another thread can
    change under a read, and such a read ends as a failed read ends on
    this Python (BlockingIOError from 3.13, a ragged EOF before; the
    stdlib's reads end so too)."""
    stalled = threading.Event()

    def answer_once_then_stall(tls):
        tls.sendall(tls.recv(1))
        stalled.wait(TIMEOUT)

    server = serve_tls(either, answer_once_then_stall)
    with connect(server, certs, either, version, timeout=1.0) as tls:
        read_results = []

        def write():
            for _ in range(TOTAL // CHUNK):
                tls.sendall(PATTERN)

        def read():
            read_results.append(tls.recv(1))

        errors = run_in_threads(write, read)
        stalled.set()
    write_timeout = [e for e in errors if str(e) == "The write operation timed out"]
    assert [type(e) for e in write_timeout] == [TimeoutError]
    [read_end] = read_results or [e for e in errors if e not in write_timeout]
    if isinstance(read_end, TimeoutError):
        assert str(read_end) == "The read operation timed out"
    elif sys.version_info >= (3, 13):
        assert type(read_end) is BlockingIOError
    else:
        assert read_end == b""
    server.join()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_socket_closed_under_a_read_is_not_replaced_by_the_next_one(serve_tls, certs, version):
    """One thread is inside recv(), between a record's header and its body,
    when another closes the socket and a new connection gets the same
    descriptor number. The read must not go on with the new connection:
    its next system call fails (EBADF) instead, which ends the read as a
    failed read ends on this Python (an OSError from 3.13, a ragged EOF
    before), and the new connection keeps its bytes. (The stdlib's read
    goes on with the new socket: it takes the bytes sent to it and waits
    for more.)"""
    closed = threading.Event()

    def send_then_hold(tls):
        tls.sendall(b"late data")
        closed.wait(TIMEOUT)

    # No TLS 1.3 session tickets: the header of a ticket's record looks like
    # that of the data (both are application data outside), and one still
    # on its way when the reader starts would be held instead.
    server = serve_tls(pyssl, send_then_hold, num_tickets=0)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        read = HeldCall(server, certs, version, "read", "recv", 100)
        read.tls.close()
        with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as bystander:
            # The system gives the lowest free number, which is another one
            # when a descriptor was freed in between (the garbage collector
            # of an earlier test): then the new connection is put on it.
            moved = bystander.fileno() != read.number
            if moved:
                os.dup2(bystander.fileno(), read.number, inheritable=False)
            bystander_server, _ = listener.accept()
            with bystander_server:
                bystander_server.sendall(b"for the bystander")
                closed.set()
                result = read.release()
                assert recv_exactly(bystander, 17) == b"for the bystander"
            if moved:
                os.close(read.number)
    if sys.version_info >= (3, 13):
        assert isinstance(result, OSError) and result.errno == errno.EBADF, result
    else:
        assert result == b""
    server.join()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_socket_closed_under_a_write_is_not_replaced_by_the_next_one(serve_tls, certs, version):
    """One thread is inside sendall(), its record made but not yet sent,
    when another closes the socket and a new connection gets the same
    descriptor number: the record must not go out on the new connection.
    The write fails instead, as a failed write ends on this Python (an
    OSError from 3.13, SSLEOFError before). (The stdlib's write sends its
    records down the new connection.)"""
    closed = threading.Event()

    def hold(tls):
        closed.wait(TIMEOUT)

    server = serve_tls(pyssl, hold)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        write = HeldCall(server, certs, version, "write", "sendall", b"secret")
        write.tls.close()
        with socket.create_connection(listener.getsockname(), timeout=0.5) as bystander:
            bystander_server, _ = listener.accept()
            with bystander_server:
                assert bystander.fileno() == write.number
                closed.set()
                result = write.release()
                bystander_server.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    bystander_server.recv(1)  # nothing came through
    if sys.version_info >= (3, 13):
        assert isinstance(result, OSError) and result.errno == errno.EBADF, result
    else:
        assert type(result) is pyssl.SSLEOFError
    server.join()


def result_of(function, *args):
    try:
        return function(*args)
    except Exception as exc:
        return exc


class HeldCall:
    """A pyssl client connected to ``server`` whose ``call(*args)``, run in
    a thread, is held by the message callback at the header of the first
    application data record it reads or writes (``direction``) until
    ``release()``: the moment between a record's header and the rest."""

    def __init__(self, server, certs, version, direction, call, *args):
        self.armed = threading.Event()
        self.at_header = threading.Event()
        self.released = threading.Event()
        ctx = client_context(pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version))
        ctx._msg_callback = self._on_message
        self.direction = direction
        self.tls = ctx.wrap_socket(server.connect(timeout=None), server_hostname="localhost")
        self.number = self.tls.fileno()
        self.outcome = []
        method = getattr(self.tls, call)
        self.thread = threading.Thread(target=lambda: self.outcome.append(result_of(method, *args)))
        self.armed.set()
        self.thread.start()
        assert self.at_header.wait(TIMEOUT)

    def _on_message(self, conn, direction, version_, content_type, message_type, data):
        if self.armed.is_set() and (direction, int(content_type), data[:1]) == (
            self.direction, 0x100, b"\x17"
        ):
            self.armed.clear()
            self.at_header.set()
            self.released.wait(TIMEOUT)

    def release(self):
        """Let the held call go on; returns what it returned or raised."""
        self.released.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        [result] = self.outcome
        return result
