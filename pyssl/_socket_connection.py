"""The connection under an SSLSocket: OpenSSL over the socket's descriptor.

OpenSSL reads and writes the descriptor itself (a socket BIO), so a
blocking socket blocks inside OpenSSL with the GIL released. With a
timeout the descriptor is non-blocking (Python sets it so) and
``SocketConnection._wait`` polls it until the deadline; with timeout 0 the
want-read/want-write errors reach the caller. This is the only place that
waits for a socket; it also sends files over kernel TLS.

docs/internals.md says how this fits with the rest.
"""

from __future__ import annotations

import _socket
import io
import os
import select
import selectors
import sys
import weakref
from collections.abc import Callable
from math import ceil
from time import monotonic
from typing import Any

from pyssl._connection import Connection
from pyssl._errors import numbered_error, plain_error, want_error
from pyssl._lib import ffi, lib

_WANT_WRITE = lib.SSL_ERROR_WANT_WRITE
# SSLError.args[0] when the socket under a connection is gone (the stdlib's
# PY_SSL_ERROR_NO_SOCKET).
ERROR_NO_SOCKET = 9


class SocketConnection(Connection):
    """A Connection whose transport is a socket's file descriptor."""

    __slots__ = ("_socket",)

    uses_socket = True
    # On a socket OpenSSL may block: these release the GIL.
    _read_fn = lib.pyssl_read
    _write_fn = lib.pyssl_write
    _free_fn = lib.pyssl_free_socket_ssl

    def __init__(
        self,
        context: Any,
        server_side: bool,
        server_hostname: str | None,
        sock: Any,
        owner: Any = None,
        session: Any = None,
    ) -> None:
        # The socket's own timeout and descriptor, as the stdlib reads them
        # from the C socket object: a subclass (gevent's, eventlet's) may
        # report another timeout while the descriptor is non-blocking and
        # wants SSLWantReadError to wait in its event loop.
        self._socket = weakref.ref(sock)
        super().__init__(
            context,
            server_side,
            server_hostname,
            owner,
            session,
            _socket.socket.fileno(sock),
        )

    @property
    def transport_socket(self) -> Any:
        return self._socket()

    def _wait(self, err: int, deadline: float | None, operation: str) -> float | None:
        sock = self._socket()
        if sock is None:
            raise numbered_error(ERROR_NO_SOCKET, "Underlying socket connection gone")
        timeout = _socket.socket.gettimeout(sock)
        if timeout == 0.0:
            self._fail(want_error(err, operation))
        fd = _socket.socket.fileno(sock)
        if fd < 0:
            raise plain_error("Underlying socket has been closed.")
        remaining = None
        if timeout is not None:
            now = monotonic()
            if deadline is None:
                deadline = now + timeout
            remaining = deadline - now
            if remaining <= 0:
                raise TimeoutError(f"The {operation} operation timed out")
        if not self._ready(fd, err == _WANT_WRITE, remaining):
            raise TimeoutError(f"The {operation} operation timed out")
        return deadline

    if hasattr(select, "poll"):

        def _ready(self, fd: int, writing: bool, timeout: float | None) -> bool:
            # A poll object per wait, shared with nothing: a poll object
            # refuses to be polled by two threads at once (RuntimeError).
            poller = select.poll()
            poller.register(fd, select.POLLOUT if writing else select.POLLIN)
            return bool(poller.poll(None if timeout is None else ceil(timeout * 1000)))

    else:  # pragma: no cover - Windows has no poll()

        def _ready(self, fd: int, writing: bool, timeout: float | None) -> bool:
            if writing:
                return bool(select.select([], [fd], [], timeout)[1])
            return bool(select.select([fd], [], [], timeout)[0])

    def shutdown(self) -> Any:
        sock = self._socket()
        if sock is None or _socket.socket.fileno(sock) < 0:
            raise numbered_error(ERROR_NO_SOCKET, "Underlying socket connection gone")
        return super().shutdown()

    def _transport(self) -> Any:
        return self._socket()

    def free_and_close(self, fd: int) -> None:
        """Free the SSL* now and close ``fd`` in the same C call (see
        pyssl_free_ssl_and_close). Only for a connection nothing else holds:
        it is unusable afterwards."""
        ssl_ptr = self.ssl_ptr
        ffi.gc(ssl_ptr, None)  # freed here, not again when this goes
        err = lib.pyssl_free_ssl_and_close(ssl_ptr, fd)
        if err:
            raise _close_error(err)


def _close_error(err: int) -> OSError:
    """The OSError socket.close() raises for the close's error ``err``."""
    if sys.platform == "win32":
        # A Winsock error: OSError maps it to errno, as the socket module does.
        return OSError(None, f"closesocket() failed (Winsock error {err})", None, err)
    return OSError(err, os.strerror(err))


# ---- sendfile over kernel TLS ------------------------------------------------


class _GiveupOnSSLSendfile(Exception):
    """SSL_sendfile() cannot send this file: send() it instead."""


_GiveupOnSSLSendfile.__module__ = "pyssl"


def sendfile_zerocopy(
    sock: Any,
    send: Callable[[int, int, int], int],
    file: Any,
    offset: int,
    count: int | None,
) -> int:
    """Send ``file`` with ``send(fileno, offset, size)`` (the connection's
    SSL_sendfile), as socket.socket.sendfile() does with os.sendfile(): in
    blocks of at most 1 GiB, waiting while the socket cannot take more. A
    file that has no descriptor, or that the first call cannot send (not a
    regular file), raises _GiveupOnSSLSendfile. The file's position ends
    after what was sent."""
    sock._check_sendfile_params(file, offset, count)
    try:
        fileno = file.fileno()
    except (AttributeError, io.UnsupportedOperation) as err:
        raise _GiveupOnSSLSendfile(err) from None
    try:
        fsize = os.fstat(fileno).st_size
    except OSError as err:
        raise _GiveupOnSSLSendfile(err) from None
    if not fsize:
        return 0
    # No larger than one sendfile() call takes on every platform.
    blocksize = min(count or fsize, 2**30)
    timeout = sock.gettimeout()
    if timeout == 0:
        raise ValueError("non-blocking sockets are not supported")
    selector: selectors.BaseSelector = (
        selectors.PollSelector()
        if hasattr(selectors, "PollSelector")
        else selectors.SelectSelector()
    )
    total_sent = 0
    try:
        selector.register(sock.fileno(), selectors.EVENT_WRITE)
        while True:
            if timeout and not selector.select(timeout):
                raise TimeoutError("timed out")
            if count:
                blocksize = min(count - total_sent, blocksize)
                if blocksize <= 0:
                    break
            try:
                sent = send(fileno, offset, blocksize)
            except OSError as err:
                if total_sent == 0:
                    raise _GiveupOnSSLSendfile(err) from None
                raise
            if sent == 0:
                break  # the end of the file
            offset += sent
            total_sent += sent
        return total_sent
    finally:
        selector.close()
        if total_sent > 0 and hasattr(file, "seek"):
            file.seek(offset)
