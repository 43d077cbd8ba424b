"""What an SSLSocket decides at both ends of its life, around the socket
API: which sockets and arguments it refuses to take over, whether the
socket it took over is connected yet, and the reference counts by which
close() knows that nothing else uses its connection (docs/internals.md,
"Ownership and closing").
"""

from __future__ import annotations

import errno as _errno
import socket as _socket_module
import sys
from typing import Any

from pyssl._errors import numbered_error

# ---- taking a socket over ------------------------------------------------------


def check_wrap_arguments(
    sock: Any, server_side: bool, server_hostname: Any, session: Any, context: Any
) -> None:
    """Refuse what SSLSocket._create() cannot wrap, before it takes the
    socket's descriptor over."""
    if (
        sock.getsockopt(_socket_module.SOL_SOCKET, _socket_module.SO_TYPE)
        != _socket_module.SOCK_STREAM
    ):
        raise NotImplementedError("only stream sockets are supported")
    if server_side:
        if server_hostname:
            raise ValueError("server_hostname can only be specified in client mode")
        if session is not None:
            raise ValueError("session can only be specified in client mode")
    if context.check_hostname and not server_hostname:
        raise ValueError("check_hostname requires server_hostname")


def not_connected(sock: Any, exc: OSError) -> bool:
    """SSLSocket._not_connected(): getpeername() failed with ``exc``; False
    if the socket ``sock`` is simply not connected yet, else raise."""
    if exc.errno != _errno.ENOTCONN:
        raise exc
    # Not connected. Bytes already queued on a socket that was closed
    # before the handshake must not pass for data that came over TLS.
    blocking = sock.getblocking()
    sock.setblocking(False)
    try:
        early = sock.recv(1)
    except OSError as recv_error:
        if recv_error.errno not in (
            _errno.ENOTCONN,
            _errno.EINVAL,
            _errno.EAGAIN,
            _errno.EWOULDBLOCK,
        ):
            raise
        early = b""
    finally:
        sock.setblocking(blocking)
    if early:
        reason = "Closed before TLS handshake with data in recv buffer."
        raise numbered_error(_errno.ENOTCONN, reason, reason)
    return False


# ---- closing -------------------------------------------------------------------

# How many references an object has, on CPython. Elsewhere a connection is
# never known to be unused, and close() takes the general path.
refcount = getattr(sys, "getrefcount", lambda obj: 0)


class _Unshared:
    __slots__ = ("ssl_ptr",)

    ssl_ptr: object


def _unshared_counts() -> tuple[int, int]:
    """The counts SSLSocket._real_close() sees for a connection that only
    its local variable holds, with an SSL* only it holds: measured with the
    same expressions on a stand-in held the same way, since what CPython
    counts for frames and arguments is its own business (3.14 leaves out
    some references it borrows). (-1, -1), which no count is, where no count
    can tell that nothing else uses a connection: without sys.getrefcount,
    and without a GIL, where another thread can take a reference between
    the count and the free."""
    if (
        not hasattr(sys, "getrefcount")
        or not getattr(sys, "_is_gil_enabled", lambda: True)()
    ):
        return -1, -1
    sslobj = _Unshared()
    sslobj.ssl_ptr = object()
    return refcount(sslobj), refcount(sslobj.ssl_ptr)


UNSHARED_CONNECTION, UNSHARED_SSL_PTR = _unshared_counts()
