"""What _native/helpers.h changes in cffi's wrappers, checked on the built
module: only the calls it lists release the GIL and hand errno over to
``ffi.errno``; every other call keeps the GIL. It does so by redefining the
macros cffi's generated wrappers use, which works only while cffi generates
them as it has so far. The build checks that shape (_native/cffi_wrappers.py,
tested at the end of this file); these tests check what comes out of it,
and each says what it shows when the hooks no longer work."""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import pytest
from peers import TIMEOUT, client_context, server_context

import pyssl
from pyssl._lib import ffi, lib

SOURCE = Path(__file__).resolve().parent.parent
# An errno no call here sets.
UNTOUCHED = errno.EDOM
# No Python thread can run while another holds the GIL: only the stall
# below tells a call that keeps it from one that lets it go.
needs_gil = pytest.mark.skipif(
    not getattr(sys, "_is_gil_enabled", lambda: True)(),
    reason="no GIL in this interpreter",
)


# How long a blocking call may wait in the system before it gives up
# (SO_RCVTIMEO, SO_SNDTIMEO): should it hold the GIL, the threads that need
# it to go on are stalled that long, not forever.
STALL = 3.0


def stall_bounded(sock):
    if sys.platform == "win32":
        interval = struct.pack("I", int(STALL * 1000))  # a DWORD of milliseconds
    else:
        interval = struct.pack("ll", int(STALL), 0)  # a struct timeval
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)
    return sock


# ---- errno -------------------------------------------------------------------


@pytest.mark.skipif(
    sys.platform == "win32", reason="Winsock reports its errors elsewhere than in errno"
)
def test_errno_reaches_ffi_errno_after_the_calls_that_release_the_gil_only():
    """pyssl_read and pyssl_read_in_memory are one C function under two
    names, and only the first is listed as releasing the GIL. Both fail
    here with EBADF (a descriptor open for writing only), which the helper
    itself puts in the connection's status either way; cffi's errno hook,
    which the file loaders read errno through, runs around the first only.
    Broken hooks show here as ffi.errno untouched after pyssl_read (errno no
    longer saved after the calls that release the GIL: a missing file
    would be reported as an SSLError, see the next test), or changed after
    pyssl_read_in_memory (every call saving errno, and by the same decision
    releasing the GIL: the wrappers no longer look as helpers.h expects)."""
    context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
    read_end, write_end = os.pipe()
    seen = {}
    try:
        for name in ("pyssl_read", "pyssl_read_in_memory"):
            io = ffi.new("pyssl_io[2]")
            ssl_ptr = lib.pyssl_new_ssl(context._ctx_ptr, ffi.NULL, 1, write_end, io)
            assert ssl_ptr != ffi.NULL
            buf = ffi.new("char[]", 16)
            try:
                ffi.errno = UNTOUCHED
                result = getattr(lib, name)(io, buf, len(buf))
                seen[name] = ffi.errno
            finally:
                lib.SSL_free(ssl_ptr)
                lib.ERR_clear_error()
            assert -result & ~lib.PYSSL_HANDSHAKE_SEEN == lib.SSL_ERROR_SYSCALL
            assert io[0].status[0] == errno.EBADF
    finally:
        os.close(read_end)
        os.close(write_end)
    assert seen == {"pyssl_read": errno.EBADF, "pyssl_read_in_memory": UNTOUCHED}


@pytest.mark.parametrize("load", ["certfile", "keyfile", "cafile"])
def test_a_file_that_is_not_there_is_reported_with_its_errno(certs, tmp_path, load):
    """The loaders tell a file the system could not open (OSError, with its
    errno) from one OpenSSL could not parse (SSLError) by ffi.errno after the
    OpenSSL call, which cffi sets only around the calls helpers.h lists as
    releasing the GIL. Should it no longer, this is an SSLError."""
    missing = str(tmp_path / "missing.pem")
    if load == "cafile":
        context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
        call = lambda: context.load_verify_locations(cafile=missing)  # noqa: E731
    else:
        context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_SERVER)
        files = {
            "certfile": certs.server_chain,
            "keyfile": certs.server_key,
            load: missing,
        }
        call = lambda: context.load_cert_chain(**files)  # noqa: E731
    with pytest.raises(FileNotFoundError) as caught:
        call()
    assert caught.value.errno == errno.ENOENT


def reset_after(sock, data_size):
    """Read ``data_size`` bytes from ``sock``, then close it so that the peer
    gets a reset (RST), not an end of stream."""
    got = 0
    while got < data_size:
        chunk = sock.recv(data_size - got)
        if not chunk:
            break
        got += len(chunk)
    linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)  # on, no time
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    sock.close()


@pytest.mark.parametrize("timeout", [None, TIMEOUT], ids=["blocking", "timeout"])
def test_a_reset_during_the_handshake_is_reported_with_its_errno(serve, certs, timeout):
    """The peer resets the connection while the handshake waits for its
    answer: the OSError has errno ECONNRESET, which the C helper read while
    the GIL was released, right after the failing system call. Blocking, the
    failure comes from the first call into OpenSSL; with a timeout, from the
    one after the wait."""
    received = threading.Event()

    def take_hello_then_reset(conn):
        # Enough of the ClientHello to know it came.
        reset_after(conn, 5)
        received.set()

    server = serve(take_hello_then_reset)
    raw = stall_bounded(server.connect(timeout=timeout))
    tls = client_context(pyssl, certs).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    )
    with tls, pytest.raises(ConnectionResetError) as caught:
        tls.do_handshake()
    assert caught.value.errno == errno.ECONNRESET
    # After the join: the server sets the event only after the reset the
    # client may already have seen.
    server.join()
    assert received.is_set()


@pytest.mark.skipif(
    sys.version_info < (3, 13),
    reason="before 3.13 a failed read is a ragged EOF, as in the stdlib: no errno to see",
)
@pytest.mark.parametrize("timeout", [None, TIMEOUT], ids=["blocking", "timeout"])
def test_a_reset_during_a_read_is_reported_with_its_errno(serve, certs, timeout):
    """The same for recv(): blocking through the read entry point in
    fast_paths.h, with a timeout through cffi's wrapper of pyssl_read after
    the wait."""
    reading = threading.Event()

    def handshake_then_reset(conn):
        tls = server_context(pyssl, certs).wrap_socket(conn, server_side=True)
        reading.wait(TIMEOUT)
        time.sleep(0.1)  # the client is waiting for the record by now
        reset_after(tls, 0)

    server = serve(handshake_then_reset)
    raw = stall_bounded(server.connect(timeout=timeout))
    with client_context(pyssl, certs).wrap_socket(
        raw, server_hostname="localhost"
    ) as tls:
        reading.set()
        with pytest.raises(ConnectionResetError) as caught:
            tls.recv(1)
    assert caught.value.errno == errno.ECONNRESET
    server.join()


# ---- the GIL -----------------------------------------------------------------


def blocked_recv(serve_tls, certs, release):
    """A thread's recv() on a connection whose peer sends nothing until
    ``release`` is set: through fast_paths.h's read entry point."""

    def hold_then_send(tls):
        release.wait(TIMEOUT)
        tls.sendall(b"x")

    server = serve_tls(pyssl, hold_then_send, num_tickets=0)
    raw = stall_bounded(server.connect(timeout=None))
    tls = client_context(pyssl, certs).wrap_socket(raw, server_hostname="localhost")
    return server, tls, lambda: tls.recv(1)


def blocked_handshake(serve_tls, certs, release, serve):
    """A thread's do_handshake() with a peer that never answers until
    ``release`` is set (it then closes): through cffi's wrapper of
    pyssl_do_handshake."""

    def hold(conn):
        release.wait(TIMEOUT)

    server = serve(hold)
    raw = stall_bounded(server.connect(timeout=None))
    tls = client_context(pyssl, certs).wrap_socket(
        raw, server_hostname="localhost", do_handshake_on_connect=False
    )
    return server, tls, tls.do_handshake


def blocked_write(serve_tls, certs, release):
    """A thread's sendall() of a memoryview to a peer that reads nothing
    until ``release`` is set: through cffi's wrapper of pyssl_write once the
    socket's buffers are full."""

    def hold_then_drain(tls):
        release.wait(TIMEOUT)
        while tls.recv(1 << 16):
            pass

    # No TLS 1.3 session tickets: left unread, they would make the client's
    # close a reset, which the server's read raises from 3.13.
    server = serve_tls(pyssl, hold_then_drain, num_tickets=0)
    raw = stall_bounded(server.connect(timeout=None))
    tls = client_context(pyssl, certs).wrap_socket(raw, server_hostname="localhost")
    data = memoryview(bytes(32 << 20))
    return server, tls, lambda: tls.sendall(data)


@needs_gil
@pytest.mark.parametrize("call", ["recv", "do_handshake", "sendall"])
def test_a_blocked_call_lets_other_threads_run(serve_tls, serve, certs, call):
    """One thread blocks in a call on a socket; this one must go on
    meanwhile. Should the call keep the GIL (for do_handshake and sendall:
    cffi's wrappers no longer releasing it for the names helpers.h lists;
    for recv: fast_paths.h's read entry point no longer releasing it), this
    thread stalls until the system gives up on the blocked call (STALL):
    the time measured here is then STALL, not a fraction of a second."""
    release = threading.Event()
    if call == "recv":
        server, tls, blocked = blocked_recv(serve_tls, certs, release)
    elif call == "do_handshake":
        server, tls, blocked = blocked_handshake(serve_tls, certs, release, serve)
    else:
        server, tls, blocked = blocked_write(serve_tls, certs, release)
    outcome = []
    entered = threading.Event()

    def run():
        entered.set()
        try:
            outcome.append(blocked())
        except OSError as exc:  # the handshake's peer closes
            outcome.append(exc)

    with tls:
        thread = threading.Thread(target=run)
        start = time.monotonic()
        thread.start()
        assert entered.wait(TIMEOUT)
        time.sleep(0.2)  # the thread is inside the call by now
        went_on_after = time.monotonic() - start
        still_blocked = thread.is_alive()
        release.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    server.join()
    assert still_blocked, outcome
    assert went_on_after < STALL / 2
    if call == "recv":
        assert outcome == [b"x"]
    elif call == "sendall":
        assert outcome == [None]


def memory_connection(certs):
    """A client's connection over memory BIOs, handshake done, and the BIO
    it writes to."""
    c_in, c_out, s_in, s_out = (pyssl.MemoryBIO() for _ in range(4))
    client = client_context(pyssl, certs).wrap_bio(
        c_in, c_out, server_hostname="localhost"
    )
    server = server_context(pyssl, certs).wrap_bio(s_in, s_out, server_side=True)
    done = set()
    while len(done) < 2:
        for side in (client, server):
            try:
                side.do_handshake()
                done.add(side)
            except pyssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    return client._sslobj, c_out


# A switch interval long enough that a thread waiting for the GIL does not
# ask for it during the calls below: it runs only if a call lets it go.
SWITCH_INTERVAL = 1.0


@needs_gil
def test_calls_not_listed_keep_the_gil(certs):
    """pyssl_write_in_memory and pyssl_write are one C function under two
    names; only the second is listed as releasing the GIL. Each writes a
    few MiB over memory BIOs (long enough for a waiting thread to wake up)
    while another thread counts as fast as it can, waiting for the GIL.
    The counter moves during the listed call (which shows that this test
    sees a release) and never during the other. Broken hooks show as the
    counter moving during pyssl_write_in_memory (cffi's wrappers no longer
    named or shaped as helpers.h expects: every call releases the GIL) or
    not during pyssl_write (no call releases it)."""
    connection, outgoing = memory_connection(certs)
    data = ffi.from_buffer(bytes(4 << 20))

    def write(name):
        written = getattr(lib, name)(connection._write_io, data, len(data))
        outgoing.read()  # the records, dropped
        return written

    counter = [0]
    stop = []

    def count():
        while not stop:
            counter[0] += 1

    def counted_during(name, attempts):
        """How many of ``attempts`` calls the counter moved during."""
        moved = 0
        for _ in range(attempts):
            before = counter[0]
            assert write(name) == len(data)
            if counter[0] != before:
                moved += 1
                if name == "pyssl_write":
                    break  # seen; each costs SWITCH_INTERVAL
        return moved

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    counting = threading.Thread(target=count)
    try:
        # Once started, the counting thread waits up to SWITCH_INTERVAL for
        # the GIL, which this thread holds from here on except in calls
        # that let it go.
        counting.start()
        kept = counted_during("pyssl_write_in_memory", 5)
        released = counted_during("pyssl_write", 5)
    finally:
        stop.append(True)
        sys.setswitchinterval(old_interval)
        counting.join(TIMEOUT)
    assert counter[0] > 0
    assert (kept, released) == (0, 1)


# ---- the build's check of cffi's generated C --------------------------------

needs_source = pytest.mark.skipif(
    not (SOURCE / "_native" / "build.py").is_file(),
    reason="runs from a source checkout only",
)


@pytest.fixture(scope="module")
def generated_c(tmp_path_factory):
    """(the binding's C as the installed cffi generates it, helpers.h)."""
    sys.path.insert(0, str(SOURCE / "_native"))
    try:
        import build  # checks the C it generates: it would stop here
        import cffi_wrappers
    finally:
        sys.path.remove(str(SOURCE / "_native"))
    c_file = tmp_path_factory.mktemp("generated") / "_openssl.c"
    build.ffibuilder.emit_c_code(str(c_file))
    helpers = (SOURCE / "_native" / "helpers.h").read_text()
    return build, cffi_wrappers, c_file.read_text(), helpers


# What a cffi that generated other wrappers would change, and what the build
# then says.
CHANGES = {
    "errno restored outside the block": (
        (
            "  Py_BEGIN_ALLOW_THREADS\n  _cffi_restore_errno();\n",
            "  _cffi_restore_errno();\n  Py_BEGIN_ALLOW_THREADS\n",
        ),
        "does not call",
    ),
    "errno saved outside the block": (
        (
            "  _cffi_save_errno();\n  Py_END_ALLOW_THREADS\n",
            "  Py_END_ALLOW_THREADS\n  _cffi_save_errno();\n",
        ),
        "does not call",
    ),
    "the GIL released by other means": (
        (
            "  Py_BEGIN_ALLOW_THREADS\n",
            "  Py_BEGIN_ALLOW_THREADS\n  PyEval_SaveThread();\n",
        ),
        "does not call",
    ),
    "wrappers named otherwise": (
        ("\n_cffi_f_", "\n_cffi_wrap_"),
        "no function is wrapped",
    ),
    "errno macros renamed": (
        ("#define _cffi_restore_errno", "#define _cffi_restore_errno_"),
        "cffi defines no macro _cffi_restore_errno",
    ),
}


@needs_source
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_build_stops_when_cffi_generates_other_wrappers(generated_c, change):
    """The check build.py runs on the generated C finds nothing in what the
    installed cffi generates, and stops the build, saying what is wrong,
    for C that differs in what helpers.h relies on."""
    build, cffi_wrappers, c_source, helpers = generated_c
    assert cffi_wrappers.problems(c_source, helpers) == []
    (old, new), complaint = CHANGES[change]
    assert old in c_source
    changed = c_source.replace(old, new)

    class Builder:
        def emit_c_code(self, path):
            Path(path).write_text(changed)

    with pytest.raises(SystemExit) as caught:
        build.check_cffi_wrappers(Builder(), helpers)
    message = str(caught.value)
    assert message.startswith("error: pyssl cannot be built with cffi ")
    assert complaint in message


@needs_source
def test_the_build_stops_when_a_listed_call_has_no_wrapper(generated_c):
    """A name in helpers.h's list that cffi does not wrap (misspelt, or no
    longer in the cdef) would silently keep the GIL."""
    _build, cffi_wrappers, c_source, helpers = generated_c
    misspelt = helpers.replace('"RAND_add"', '"RAND_ad"')
    assert cffi_wrappers.problems(c_source, misspelt) == [
        "pyssl_gil_releasing names RAND_ad, which cffi does not wrap"
    ]
