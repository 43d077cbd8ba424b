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
    """Send back everything received, until the client closes."""
    while True:
        try:
            data = tls.recv(CHUNK)
        except ConnectionResetError:
            return
        if not data:
            return
        tls.sendall(data)


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


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_reader_and_writer_threads_lose_nothing(serve_tls, certs, either, version):
    server = serve_tls(either, echo)
    ctx = client_context(either, certs, maximum_version=getattr(either.TLSVersion, version))
    with ctx.wrap_socket(server.connect(timeout=None), server_hostname="localhost") as tls:
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
