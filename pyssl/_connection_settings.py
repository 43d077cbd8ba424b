"""The settings a Connection puts on its own SSL*, beyond those
pyssl_new_ssl() makes: the server name a client sends and checks the
peer's certificate against, post-handshake authentication, and the
SSL_CTX it switches to when its context is replaced (SNI).
"""

from __future__ import annotations

from typing import Any

from pyssl._arguments import exact_address
from pyssl._errors import error_from_queue
from pyssl._lib import ffi, lib


def enable_post_handshake_auth(ssl_ptr: Any, server_side: bool) -> None:
    """Let a server ask for the client's certificate after the handshake, or
    a client answer when asked."""
    if server_side:
        # OpenSSL honours SSL_VERIFY_POST_HANDSHAKE only together with
        # SSL_VERIFY_PEER, and only servers may carry it.
        mode = lib.SSL_get_verify_mode(ssl_ptr)
        if mode & lib.SSL_VERIFY_PEER:
            callback = lib.SSL_get_verify_callback(ssl_ptr)
            lib.SSL_set_verify(ssl_ptr, mode | lib.SSL_VERIFY_POST_HANDSHAKE, callback)
    else:
        lib.SSL_set_post_handshake_auth(ssl_ptr, 1)


def set_server_name(ssl_ptr: Any, hostname: str, check: bool) -> None:
    """Send ``hostname`` in the SNI extension unless it is an IP address,
    and with ``check`` have the peer's certificate checked against it."""
    # An A-label: an ASCII str without NUL, as the stdlib's "es"
    # conversion takes it (SSLContext._encode_hostname made it one).
    if not isinstance(hostname, str):
        raise TypeError(f"argument must be str, not {type(hostname).__name__}")
    if "\0" in hostname:
        raise TypeError("argument must be encoded string without null bytes, not str")
    name = hostname.encode("ascii")
    if not name or name.startswith(b"."):
        raise ValueError(
            "server_hostname cannot be an empty string or start with a leading dot."
        )
    address = exact_address(hostname)
    if address is None:  # a host name
        address, size = ffi.NULL, 0
    else:
        size = len(address)
    if not lib.pyssl_set_server_name(ssl_ptr, name, address, size, check):
        raise error_from_queue("server_hostname")


def switch_context(ssl_ptr: Any, context: Any) -> None:
    """Make the SSL* use ``context``'s SSL_CTX (an _SSLContext's, else
    TypeError)."""
    from pyssl._context import _SSLContext

    if not isinstance(context, _SSLContext):
        raise TypeError("The value must be a SSLContext")
    lib.SSL_set_SSL_CTX(ssl_ptr, context._ctx_ptr)
    # The message callback follows the context (SSL_set_SSL_CTX keeps
    # the old one).
    msg_callback = lib.pyssl_msg_cb if context._msg_callback is not None else ffi.NULL
    lib.SSL_set_msg_callback(ssl_ptr, msg_callback)
