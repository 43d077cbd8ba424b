"""What pyssl adds to a connection beyond the stdlib's API (docs/additions.md).

``ConnectionAdditions`` is a base of ``Connection`` (``_connection.py``):
keying material exporters (RFC 5705, RFC 8446 7.5), TLS 1.3 early data
(0-RTT) and key updates, and the Finished messages. Its methods work on
``self.ssl_ptr`` and wait or fail through the connection's ``_wait`` and
``_fail``, so they behave alike over a socket (``SSLSocket``) and over
memory BIOs (``SSLObject``, where they raise ``SSLWantReadError`` when
the peer's bytes are needed first).
"""

from __future__ import annotations

from operator import index
from typing import Any

from pyssl._buffers import readable_buffer
from pyssl._errors import error_from_queue
from pyssl._lib import ffi, lib

# A Finished message is at most the size of the largest hash (64 bytes).
_FINISHED_MAX = 128
# A TLS 1.2 export runs the PRF on the label, both randoms (64 bytes) and
# the context with its 2-byte length; OpenSSL's PRF takes 1024 bytes.
_TLS12_LABEL_AND_CONTEXT_MAX = 1024 - 64
# One SSL_read_early_data() gives at most one record's plaintext.
_RECORD_MAX = 16384


def _bytes_argument(value: Any, method: str, name: str, text: bool = False) -> bytes:
    """``value`` (a bytes-like object, or with ``text`` an ASCII str) as bytes."""
    if text and isinstance(value, str):
        return value.encode("ascii")
    try:
        with memoryview(value) as view:
            return view.tobytes()
    except TypeError:
        kinds = "str or a bytes-like object" if text else "a bytes-like object"
        raise TypeError(
            f"{method}() argument '{name}' must be {kinds}, not {type(value).__name__}"
        ) from None


class ConnectionAdditions:
    """Methods over ``self.ssl_ptr`` and the I/O machinery of
    ``Connection`` (``_wait``, ``_fail``)."""

    __slots__ = ()

    ssl_ptr: Any
    server_side: bool
    uses_socket: bool
    # A Connection slot, set once read_early_data() has returned b''.
    _early_data_finished: bool

    # Connection's own.
    _wait: Any
    _fail: Any
    _raise_callback_error: Any
    _forget: Any
    _handshake_steps: Any
    _until_done: Any

    def _run_early_data(self, io: Any, buf: Any, size: int, operation: str) -> int:
        """Call the early-data helper ``io`` until it succeeds, waiting for
        the transport as the connection does; returns the byte count."""
        ssl_ptr = self.ssl_ptr
        # Its own out-parameters: another thread may be reading.
        count = ffi.new("size_t *")
        status = ffi.new("int[2]")
        self._until_done(lambda: io(ssl_ptr, buf, size, count, status), status,
                         operation, operation)
        # The handshake went on: what the getters kept may be stale.
        self._forget()
        self._raise_callback_error()
        return count[0]

    # ---- keying material exporters -------------------------------------

    def export_keying_material(
        self, label: str | bytes, length: int, context: bytes | None = None
    ) -> bytes:
        """``length`` bytes of keying material for ``label`` (RFC 5705 and
        RFC 8446 7.5), the same on both ends of the connection. A
        ``context`` of None means no context value, which in TLS 1.2
        differs from an empty one; in TLS 1.3 they are the same."""
        label_bytes = _bytes_argument(label, "export_keying_material", "label", text=True)
        size = index(length)
        if size <= 0:
            raise ValueError("length must be a positive number of bytes")
        if context is None:
            context_bytes, use_context = b"", 0
        else:
            context_bytes = _bytes_argument(context, "export_keying_material", "context")
            use_context = 1
        ssl_ptr = self.ssl_ptr
        if not lib.SSL_is_init_finished(ssl_ptr):
            raise ValueError("handshake not done yet")
        if lib.SSL_version(ssl_ptr) == lib.TLS1_3_VERSION:
            # HKDF-Expand gives at most 255 hash lengths, and a TLS 1.3
            # Finished message is one hash long (RFC 8446 4.4.4).
            limit = 255 * lib.SSL_get_finished(ssl_ptr, ffi.NULL, 0)
            if size > limit:
                raise ValueError(f"TLS 1.3 exports at most {limit} bytes with this cipher suite")
        elif len(label_bytes) + use_context * (2 + len(context_bytes)) > _TLS12_LABEL_AND_CONTEXT_MAX:
            raise ValueError(
                "label and context too long for TLS 1.2: at most "
                f"{_TLS12_LABEL_AND_CONTEXT_MAX} bytes together, 2 of them for a context's length"
            )
        out = ffi.new("unsigned char[]", size)
        lib.ERR_clear_error()
        ok = lib.SSL_export_keying_material(
            ssl_ptr, out, size, label_bytes, len(label_bytes),
            ffi.from_buffer("unsigned char[]", context_bytes), len(context_bytes), use_context,
        )
        if ok != 1:
            raise error_from_queue("export_keying_material")
        return ffi.buffer(out, size)[:]

    # ---- Finished messages ----------------------------------------------

    def _finished(self, getter: Any) -> bytes | None:
        buf = ffi.new("char[]", _FINISHED_MAX)
        size = getter(self.ssl_ptr, buf, _FINISHED_MAX)
        if size == 0:
            return None
        return ffi.unpack(buf, min(size, _FINISHED_MAX))

    def get_finished(self) -> bytes | None:
        """The latest Finished message this end sent, or None."""
        return self._finished(lib.SSL_get_finished)

    def get_peer_finished(self) -> bytes | None:
        """The latest Finished message the peer sent, or None."""
        return self._finished(lib.SSL_get_peer_finished)

    # ---- key update -------------------------------------------------------

    def key_update(self, request_peer: bool = False) -> None:
        """Send a TLS 1.3 KeyUpdate: this end's sending keys change; with
        ``request_peer`` the peer is asked to change its own as well."""
        kind = lib.SSL_KEY_UPDATE_REQUESTED if request_peer else lib.SSL_KEY_UPDATE_NOT_REQUESTED
        ssl_ptr = self.ssl_ptr
        lib.ERR_clear_error()
        if not lib.SSL_key_update(ssl_ptr, kind):
            raise error_from_queue("key_update")
        # OpenSSL only queues the message; a handshake step sends it now
        # rather than with the next write, which may be long in coming.
        self._handshake_steps("key_update", "key_update")
        self._raise_callback_error()

    # ---- TLS 1.3 early data -------------------------------------------

    def read_early_data(self, len: int = 1024) -> bytes:
        """Server side, before the handshake: read up to ``len`` bytes of
        the client's early data. b'' means there is no (more) early data:
        the client sent none, it was rejected, or it has all been read;
        then finish with do_handshake()."""
        if not self.server_side:
            raise ValueError("only a server-side connection can read early data")
        size = index(len)
        if size <= 0:
            if size < 0:
                raise ValueError("size should not be negative")
            return b""
        ssl_ptr = self.ssl_ptr
        if getattr(self, "_early_data_finished", False) or lib.SSL_is_init_finished(ssl_ptr):
            return b""
        size = min(size, _RECORD_MAX)
        buf = ffi.new("char[]", size)
        io = lib.pyssl_read_early_data if self.uses_socket else lib.pyssl_read_early_data_in_memory
        got = self._run_early_data(io, buf, size, "read_early_data")
        if got == 0:
            self._early_data_finished = True
            return b""
        return ffi.unpack(buf, got)

    def write_early_data(self, data: Any) -> int:
        """Client side, before the handshake, on a session whose server
        allows early data: send ``data`` as early data. Returns the number
        of bytes written."""
        if self.server_side:
            raise ValueError("only a client-side connection can write early data")
        src = readable_buffer(data)
        ssl_ptr = self.ssl_ptr
        try:
            if lib.SSL_in_before(ssl_ptr):
                session = lib.SSL_get_session(ssl_ptr)
                if session == ffi.NULL or lib.SSL_SESSION_get_max_early_data(session) == 0:
                    raise ValueError("the session does not allow early data")
            elif lib.SSL_is_init_finished(ssl_ptr):
                raise ValueError("early data can only be written before the handshake")
            io = lib.pyssl_write_early_data if self.uses_socket else lib.pyssl_write_early_data_in_memory
            return self._run_early_data(io, src, len(src), "write_early_data")
        finally:
            ffi.release(src)

    @property
    def early_data_accepted(self) -> bool | None:
        """Whether the server accepted the client's early data: None until
        the handshake is complete, False when none was sent."""
        ssl_ptr = self.ssl_ptr
        if not lib.SSL_is_init_finished(ssl_ptr):
            return None
        return lib.SSL_get_early_data_status(ssl_ptr) == lib.SSL_EARLY_DATA_ACCEPTED
