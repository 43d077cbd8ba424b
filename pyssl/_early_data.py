"""TLS 1.3 early data: what a Connection's read_early_data() and
write_early_data() check and read into, before Connection._run_early_data
sends or receives it as the connection waits for I/O.
"""

from __future__ import annotations

from operator import index
from typing import TYPE_CHECKING, Any

from pyssl._buffers import readable_buffer
from pyssl._lib import ffi, lib

if TYPE_CHECKING:
    from pyssl._connection import Connection

# One SSL_read_early_data() gives at most one record's plaintext.
_RECORD_MAX = 16384


def read(connection: Connection, length: Any) -> bytes:
    """Connection.read_early_data(): up to ``length`` bytes of the client's
    early data; b'' once there is none (more)."""
    if not connection.server_side:
        raise ValueError("only a server-side connection can read early data")
    size = index(length)
    if size <= 0:
        if size < 0:
            raise ValueError("size should not be negative")
        return b""
    ssl_ptr = connection.ssl_ptr
    if connection._early_data_finished or lib.SSL_is_init_finished(ssl_ptr):
        return b""
    size = min(size, _RECORD_MAX)
    buf = ffi.new("char[]", size)
    io = (
        lib.pyssl_read_early_data
        if connection.uses_socket
        else lib.pyssl_read_early_data_in_memory
    )
    got = connection._run_early_data(io, buf, size, "read_early_data")
    if got == 0:
        connection._early_data_finished = True
        return b""
    return ffi.unpack(buf, got)


def write(connection: Connection, data: Any) -> int:
    """Connection.write_early_data(): send ``data`` as early data; returns
    the number of bytes written."""
    if connection.server_side:
        raise ValueError("only a client-side connection can write early data")
    src = readable_buffer(data)
    ssl_ptr = connection.ssl_ptr
    try:
        if lib.SSL_in_before(ssl_ptr):
            session = lib.SSL_get_session(ssl_ptr)
            if session == ffi.NULL or lib.SSL_SESSION_get_max_early_data(session) == 0:
                raise ValueError("the session does not allow early data")
        elif lib.SSL_is_init_finished(ssl_ptr):
            raise ValueError("early data can only be written before the handshake")
        io = (
            lib.pyssl_write_early_data
            if connection.uses_socket
            else lib.pyssl_write_early_data_in_memory
        )
        return connection._run_early_data(io, src, len(src), "write_early_data")
    finally:
        ffi.release(src)
