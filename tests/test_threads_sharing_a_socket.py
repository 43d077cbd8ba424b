"""One SSLSocket used by two threads. OpenSSL allows one call at a time on
a connection (an SSL object), and so do pyssl and the stdlib: a reader and
a writer thread take turns, each call under a lock on a non-blocking
socket, waiting for the socket outside it; then every byte written
arrives, once and in order. The one call another thread may make at any
time is close(): the call in progress ends, and never goes on with another
connection given the same descriptor."""

from __future__ import annotations

import errno
import os
import select
import socket
import sys
import threading
import time
import weakref

import pytest
from peers import TIMEOUT, client_context, recv_exactly, server_context

import pyssl
import pyssl._socket_connection as pyssl_socket_connection

# Enough records for the two threads to take turns again and again.
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


class TakingTurns:
    """Calls on one non-blocking SSLSocket from several threads, one at a
    time: each call under the lock, the wait for the socket outside it."""

    def __init__(self, tls, module):
        self.tls = tls
        self.lock = threading.Lock()
        self.want_read, self.want_write = (
            module.SSLWantReadError,
            module.SSLWantWriteError,
        )
        self.deadline = time.monotonic() + TIMEOUT * 4

    def call(self, method, *args):
        while True:
            with self.lock:
                try:
                    return method(*args)
                except self.want_read:
                    readable, writable = [self.tls], []
                except self.want_write:
                    readable, writable = [], [self.tls]
            assert time.monotonic() < self.deadline, "no progress"
            # Briefly: the other thread's call may take what this one waits for.
            select.select(readable, writable, [], 0.05)


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_reader_and_writer_threads_taking_turns_lose_nothing(
    serve_tls, certs, either, version
):
    server = serve_tls(either, echo)
    ctx = client_context(
        either, certs, maximum_version=getattr(either.TLSVersion, version)
    )
    with ctx.wrap_socket(
        server.connect(timeout=TIMEOUT), server_hostname="localhost"
    ) as tls:
        assert tls.version() == version.replace("_", ".")
        tls.setblocking(False)
        turns = TakingTurns(tls, either)
        received = bytearray()

        def write():
            for _ in range(TOTAL // CHUNK):
                view = memoryview(PATTERN)
                while view:
                    view = view[turns.call(tls.send, view) :]

        def read():
            while len(received) < TOTAL:
                data = turns.call(tls.recv, CHUNK)
                assert data, f"EOF after {len(received)} bytes"
                received.extend(data)

        assert run_in_threads(write, read) == []
        assert received == PATTERN * (TOTAL // CHUNK)
    server.join()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_socket_closed_under_a_read_is_not_replaced_by_the_next_one(
    serve_tls, certs, version
):
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
        with socket.create_connection(
            listener.getsockname(), timeout=TIMEOUT
        ) as bystander:
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
def test_socket_closed_under_a_write_is_not_replaced_by_the_next_one(
    serve_tls, certs, version
):
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


# Where the thread that holds the call is, once it waits: the function of
# its innermost Python frame.
WAITING_IN = {
    "recv": "read",
    "recv with a timeout": "_ready",
    "do_handshake": "_handshake_steps",
}


def wait_until_blocked(thread, function):
    """Return once ``thread`` waits in the kernel for the peer, in a system
    call made under ``function``'s frame. The frame alone is not enough: the
    thread enters it some instructions before the call that waits, and a
    descriptor closed in between makes that call fail at once rather than
    block. Linux shows where a thread sleeps (wchan); a thread waiting for the
    GIL sleeps in a futex. Elsewhere, a pause after the frame appears."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        assert time.monotonic() < deadline, "the call did not start waiting"
        if sys._current_frames()[thread.ident].f_code.co_name == function:
            where = sleeping_in(thread)
            if where is None:
                time.sleep(0.2)
                return
            if not where.startswith("futex"):
                return
        time.sleep(0.01)


def sleeping_in(thread):
    """The kernel function ``thread`` sleeps in, or None where the system
    does not say (Linux says "0" of a running thread, and of any thread
    where kernel addresses are hidden)."""
    try:
        with open(f"/proc/self/task/{thread.native_id}/wchan") as f:
            where = f.read()
    except OSError:
        return None
    return None if where == "0" else where


@pytest.mark.parametrize("call", list(WAITING_IN))
def test_a_socket_closed_under_a_waiting_call_leaves_its_tls_layer_to_the_call(
    serve, certs, monkeypatch, call
):
    """Another thread is inside a call on the socket when close() runs,
    waiting in OpenSSL for the peer (recv() through fast_paths.h,
    do_handshake() through cffi) or in Python for the descriptor (recv()
    with a timeout). close() closes the descriptor, but must leave the SSL*
    to that call: the call ends as it can, and the SSL* goes with the
    connection once the call lets go of it. close() tells this case from
    one where nothing else uses the connection by reference counts
    (SSLSocket._real_close): should CPython count other threads' references
    otherwise (fewer than close() expects), close() would free the SSL*
    here, under the call. The spy catches that before it happens."""
    release = threading.Event()

    def peer(conn):
        if call == "do_handshake":
            release.wait(TIMEOUT)  # then closed: the handshake meets EOF
            return
        context = server_context(pyssl, certs, num_tickets=0)
        with context.wrap_socket(conn, server_side=True) as tls:
            release.wait(TIMEOUT)
            tls.sendall(b"x")

    server = serve(peer)
    raw = server.connect(timeout=TIMEOUT if call == "recv with a timeout" else None)
    tls = client_context(pyssl, certs).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=call != "do_handshake"
    )
    layer = weakref.ref(tls._sslobj)
    blocked = tls.do_handshake if call == "do_handshake" else lambda: tls.recv(1)
    outcome = []

    def run():
        try:
            outcome.append(repr(blocked()))
        except OSError as exc:  # only its name: no traceback to keep the layer
            outcome.append(type(exc).__name__)

    thread = threading.Thread(target=run)
    freed_under_the_call = []
    free_and_close = pyssl_socket_connection.SocketConnection.free_and_close

    def spy(connection, fd):
        if connection is layer() and thread.is_alive():
            freed_under_the_call.append(fd)
            os.close(fd)  # and leave the SSL* alone: fail below, not crash
            return
        free_and_close(connection, fd)

    monkeypatch.setattr(pyssl_socket_connection.SocketConnection, "free_and_close", spy)
    thread.start()
    wait_until_blocked(thread, WAITING_IN[call])
    tls.close()
    assert tls.fileno() == -1
    still_there = layer() is not None
    release.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    server.join()
    assert freed_under_the_call == []
    assert still_there
    assert outcome  # the call ended, whichever way
    assert layer() is None


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
        ctx = client_context(
            pyssl, certs, maximum_version=getattr(pyssl.TLSVersion, version)
        )
        ctx._msg_callback = self._on_message
        self.direction = direction
        self.tls = ctx.wrap_socket(
            server.connect(timeout=None), server_hostname="localhost"
        )
        self.number = self.tls.fileno()
        self.outcome = []
        method = getattr(self.tls, call)
        self.thread = threading.Thread(
            target=lambda: self.outcome.append(result_of(method, *args))
        )
        self.armed.set()
        self.thread.start()
        assert self.at_header.wait(TIMEOUT)

    def _on_message(self, conn, direction, version_, content_type, message_type, data):
        if self.armed.is_set() and (direction, int(content_type), data[:1]) == (
            self.direction,
            0x100,
            b"\x17",
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
