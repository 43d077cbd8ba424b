"""One SSLSocket used by two threads at once: a reader and a writer, the
way full-duplex protocols use a connection. Every byte written arrives,
once and in order, and neither thread sees an error; the stdlib passes the
same tests."""

from __future__ import annotations

import threading

import pytest
from conftest import TIMEOUT, client_context

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
    read ended as if at the end of the stream: OpenSSL keeps one
    want-read/want-write state per connection, which a write in another
    thread can change under a read (the stdlib's reads end so too)."""
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
    assert all(type(error) is TimeoutError for error in errors), errors
    messages = sorted(str(error) for error in errors)
    if read_results:
        assert (read_results, messages) == ([b""], ["The write operation timed out"])
    else:
        assert messages == ["The read operation timed out", "The write operation timed out"]
    server.join()
